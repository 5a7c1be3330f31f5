package top

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/muesli/termenv"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/live"
)

// TestRun_ClusterOfThreePublishersFromRedis publishes the seconds of three
// processes to Redis, as three running processes do, and reads them with
// top's Redis source: the cluster's JSON has each process and their sum,
// the table a sum row and a row per process, and --node one of them.
func TestRun_ClusterOfThreePublishersFromRedis(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	pub := live.NewRedis(rdb, prefix)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	for i, name := range []string{"push-a", "push-b", "api-1"} {
		s := live.Snapshot{Process: name, Role: live.RolePush, At: now, Seconds: 1,
			Work:     live.Summary{Calls: int64(10 * (i + 1)), Timeouts: int64(i), Hist: []live.Bucket{{LeMS: 1, N: int64(10 * (i + 1))}}},
			Sessions: live.Sessions{Total: int64(i + 1), LoggedIn: int64(i + 1), ByPlatform: map[string]int64{"ios": int64(i + 1)}},
			Backlog:  live.Backlog{Streams: []live.Stream{{Node: name, Lag: int64(i)}}}}
		if err := pub.Publish(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	src := Redis{R: pub}

	var out bytes.Buffer
	if err := Run(ctx, Config{Source: src, Cluster: true, Once: true, JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var v live.ClusterView
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(v.Processes) != 3 || v.Processes[0].Process != "api-1" {
		t.Fatalf("processes = %+v, want three ordered by id", v.Processes)
	}
	if v.Sum.Work.Calls != 60 || v.Sum.Work.Timeouts != 3 || v.Sum.Sessions.Total != 6 || v.Sum.Sessions.ByPlatform["ios"] != 6 || len(v.Sum.Backlog.Streams) != 3 {
		t.Errorf("sum = work %+v sessions %+v streams %+v", v.Sum.Work, v.Sum.Sessions, v.Sum.Backlog.Streams)
	}

	out.Reset()
	if err := Run(ctx, Config{Source: src, Cluster: true, Once: true}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "cluster") || !strings.Contains(lines[2], "api-1") || !strings.Contains(lines[4], "push-b") {
		t.Errorf("table = header, sum, one row per process? got:\n%s", out.String())
	}

	out.Reset()
	if err := Run(ctx, Config{Source: src, Node: "push-b", Once: true, JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var s live.Snapshot
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Process != "push-b" || s.Work.Calls != 20 {
		t.Errorf("--node push-b = %+v, %v", s, err)
	}
	if err := Run(ctx, Config{Source: src, Node: "nope", Once: true}, &out); err == nil {
		t.Error("--node of a process that does not publish: no error")
	}
}

// TestTable_HighlightsTimeoutsErrorsAndBacklogOnly: on a colour terminal,
// a second with timeouts, errors and backlog has those cells coloured, and
// a healthy second has no colour at all.
func TestTable_HighlightsTimeoutsErrorsAndBacklogOnly(t *testing.T) {
	var out bytes.Buffer
	tb := newTable(&out)
	tb.r.SetColorProfile(termenv.ANSI)
	healthy := live.Snapshot{Process: "n1", At: time.Now(), Work: live.Summary{Calls: 5}}
	if err := tb.second([]live.Snapshot{healthy}); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(out.String()), "\n")
	if strings.Contains(rows[1], "\x1b[") {
		t.Errorf("a healthy row is coloured: %q", rows[1])
	}
	out.Reset()
	sick := healthy
	sick.Work.Timeouts, sick.Work.Errors = 2, 1
	sick.Backlog.Outbox = 40
	if err := tb.second([]live.Snapshot{sick}); err != nil {
		t.Fatal(err)
	}
	row := strings.TrimSpace(out.String())
	if n := strings.Count(row, "\x1b[0m"); n != 3 {
		t.Errorf("timeouts, errors and backlog: %d coloured cells in %q, want 3", n, row)
	}
}
