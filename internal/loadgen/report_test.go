package loadgen

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The report from the fixture results: the newest run of each scenario in
// the order, its exact command, how far a missed target is off,
// the machine, the targets and the links; the chart is well-formed
// XML with one bar per target.
func TestWriteReport_FromFixtureResultsWritesTheTableAndAWellFormedChart(t *testing.T) {
	out := t.TempDir()
	notes := filepath.Join(t.TempDir(), "notes.md")
	if err := os.WriteFile(notes, []byte("The connect rate is limited by the clients.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md, svg, err := WriteReport(ReportConfig{Results: "testdata/results", Out: out, Notes: notes,
		Now: time.Date(2026, 11, 24, 4, 50, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		"| idle | RSS per connection | 3.83 KiB | ≤ 4 KiB | yes |",
		"| idle | connect rate | 2,559/s | ≥ 10,000/s | **no**: 26% of the target |",
		"| broadcast | all received p99 | 200.0 ms | ≤ 50 ms | **no**: 4.00× the limit |",
		"| cluster | connections held | 60,000 | ≥ 60,000 | yes |",
		"| 95 s | 1.5 / 3.2 | `tether bench idle --n 15000` |",
		"`tether bench x-custom --label '<a & b>' \\| tee out`", // a pipe must not split the table cell
		"2 cores (Test CPU), 24.0 GiB memory, Linux 6.1.0",
		"| cluster | 60,000 connections on one machine, a broadcast reaches all |",
		"The connect rate is limited by the clients.",
		"(benchmarks-push.md)", "(memory.md)", "](benchmarks.svg)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("benchmarks.md lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "--old-run") {
		t.Error("the report shows an older idle run, not the newest")
	}
	order := []string{"| idle | RSS", "| broadcast | all", "| cluster | conn", "| x-custom | "}
	for i := 1; i < len(order); i++ {
		if strings.Index(doc, order[i-1]) > strings.Index(doc, order[i]) {
			t.Errorf("%q comes after %q: scenarios are not in the issue's order", order[i-1], order[i])
		}
	}

	s, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	bars, dots, texts := checkXML(t, s)
	if bars != 8 { // one per target of the newest runs: 2+2+2+2
		t.Errorf("%d bars in the chart, want 8:\n%s", bars, s)
	}
	if dots != 4 || !strings.Contains(texts, "cluster, 60,000 connections") { // broadcast's round and cluster's three
		t.Errorf("%d round dots in the chart, want 4: %s", dots, texts)
	}
	if !strings.Contains(texts, `x-custom: loss <&> "quoted"`) || !strings.Contains(texts, "> 200%") {
		t.Errorf("chart text lacks the escaped name or the capped bar: %s", texts)
	}
}

// checkXML fails unless b is one well-formed SVG document, and returns its
// number of bars and dots and its text.
func checkXML(t *testing.T, b []byte) (bars, dots int, text string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
				}
			}
			if tok.Name.Local == "rect" && depth == 1 && len(tok.Attr) > 0 && tok.Attr[0].Value != "100%" {
				bars++
			}
			if tok.Name.Local == "circle" {
				dots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			sb.Write(tok)
			sb.WriteByte('\n')
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("%d root elements, depth %d at the end", roots, depth)
	}
	return bars, dots, sb.String()
}

func TestLatestResults_RefusesAFolderWithoutResultsOrWithAnUnreadableOne(t *testing.T) {
	dir := t.TempDir()
	if _, err := LatestResults(dir); err == nil || !strings.Contains(err.Error(), "no result documents") {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := LatestResults(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing folder accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, "idle-x.json"), []byte(`{"scenario":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LatestResults(dir); err == nil || !strings.Contains(err.Error(), "idle-x.json") {
		t.Fatalf("broken document: %v", err)
	}
}

// A written document reads back whole, under its scenario and stamp, and a
// second run in the same second does not overwrite the first.
func TestWriteDocument_AppendsAndNeverOverwrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	started := time.Date(2026, 11, 24, 3, 4, 5, 0, time.UTC)
	d, err := NewDocument("broadcast", started, "tether bench broadcast --n 300", map[string]any{"n": 300},
		BroadcastResult{Connections: 15000, Rounds: []BroadcastRound{{Seconds: 0.03, PerSecond: 500000}, {Seconds: 0.06, PerSecond: 250000}}, Median: 375000})
	if err != nil {
		t.Fatal(err)
	}
	p1, err1 := WriteDocument(dir, d)
	p2, err2 := WriteDocument(dir, d)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p1) != "broadcast-20261124T030405Z.json" || p1 == p2 {
		t.Fatalf("paths %s and %s", p1, p2)
	}
	var back Document
	b, _ := os.ReadFile(p2)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Scenario != "broadcast" || back.Machine.Cores <= 0 || back.Command == "" || len(back.Targets) != 2 {
		t.Fatalf("read back %+v", back)
	}
	// p99 over two rounds is the slower one: 60 ms, over the 50 ms target.
	if tg := back.Targets[0]; tg.Value != 0.06 || tg.Met {
		t.Fatalf("all received p99 target: %+v", tg)
	}
	if tg := back.Targets[1]; !tg.Met || tg.Note != "" {
		t.Fatalf("deliveries target: %+v", tg)
	}
	if _, err := WriteDocument(dir, Document{Scenario: "../x"}); err == nil {
		t.Fatal("a scenario name with a slash was accepted")
	}
}

func TestPercentile_IsNearestRank(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ p, want float64 }{{50, 3}, {99, 5}, {100, 5}, {1, 1}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%.0f = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 99) != 0 {
		t.Error("percentile of nothing")
	}
}
