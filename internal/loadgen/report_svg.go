package loadgen

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
	"time"
)

// The chart is written by hand rather than with a plotting library: one
// horizontal bar per target, its length the measured value as a share of
// the target (for "at most" targets the limit over the value), so that for
// every target longer is better and 100% is the line between met and
// missed.

const (
	svgWidth  = 1040
	svgLabelX = 10  // left edge of the target names
	svgBarX   = 370 // where a bar starts (0%)
	svgBarW   = 360 // width of 0..svgMaxPct
	svgTextX  = svgBarX + svgBarW + 12
	svgRow    = 26
	svgTop    = 70 // first row
	svgMaxPct = 2.0
)

func reportSVG(runs []reportRun, now time.Time) string {
	type row struct {
		label, value string
		score        float64
		met          bool
	}
	var rows []row
	for _, r := range runs {
		for _, t := range r.Targets {
			v := FormatValue(t.Value, t.Unit, false) + " (target " + FormatTarget(t) + ")"
			rows = append(rows, row{label: r.Scenario + ": " + t.Name, value: v, score: score(t), met: t.Met})
		}
	}
	series := roundSeries(runs)
	height := svgTop + max(len(rows), 1)*svgRow + 40
	if len(series) > 0 {
		height += svgPanelGap + len(series)*svgRow + 40
	}

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", svgLabelX,
		esc("Tether benchmarks: each target's measured value as a share of the target"))
	sub := "100% = target met; longer is better (for an upper limit: limit / value). Newest run of each scenario, " + now.UTC().Format("2006-01-02 15:04") + " UTC."
	if len(runs) > 0 {
		m := runs[0].Machine
		sub += fmt.Sprintf(" %d cores, %.0f GiB.", m.Cores, float64(m.Memory)/(1<<30))
	}
	p(`<text x="%d" y="42" fill="#555555">%s</text>`+"\n", svgLabelX, esc(sub))

	// Axis: gridlines every 50%, the 100% line emphasised.
	bottom := svgTop + max(len(rows), 1)*svgRow
	for pc := 0; pc <= int(svgMaxPct*100); pc += 50 {
		x := svgBarX + float64(pc)/100/svgMaxPct*svgBarW
		stroke, dash := "#dddddd", ""
		if pc == 100 {
			stroke, dash = "#333333", ` stroke-dasharray="4 3"`
		}
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"%s/>`+"\n", x, svgTop-8, x, bottom, stroke, dash)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%d%%</text>`+"\n", x, bottom+16, pc)
	}
	if len(rows) == 0 {
		p(`<text x="%d" y="%d">%s</text>`+"\n", svgBarX, svgTop+16, esc("no targets in the results"))
	}
	for i, r := range rows {
		y := svgTop + i*svgRow
		s := min(max(r.score, 0), svgMaxPct)
		w := s / svgMaxPct * svgBarW
		fill := "#c62828"
		if r.met {
			fill = "#2e7d32"
		}
		p(`<text x="%d" y="%d">%s</text>`+"\n", svgLabelX, y+13, esc(r.label))
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			svgBarX, y, w, svgRow-8, fill, esc(r.label+": "+r.value))
		pctText := pct(r.score)
		if r.score > svgMaxPct {
			pctText = "> " + pct(svgMaxPct) // the bar is cut at the axis end
		}
		p(`<text x="%d" y="%d">%s</text>`+"\n", svgTextX, y+13, esc(pctText+" · "+r.value))
	}
	if len(series) > 0 {
		roundsPanel(p, series, bottom+40)
	}
	p("</svg>\n")
	return b.String()
}

// svgPanelGap is the room above the rounds panel for its title.
const svgPanelGap = 50

// series is the all-received time of each broadcast round of one run.
type series struct {
	label    string
	ms       []float64
	targeted bool // the 50 ms target applies (broadcast at 15,000), so a slower round is red
}

// roundSeries finds the runs whose results have broadcast rounds
// (broadcast, cluster): {"connections": N, "rounds": [{"seconds": s}]}.
func roundSeries(runs []reportRun) []series {
	var out []series
	for _, r := range runs {
		var res struct {
			Connections int `json:"connections"`
			Rounds      []struct {
				Seconds float64 `json:"seconds"`
			} `json:"rounds"`
		}
		if json.Unmarshal(r.Results, &res) != nil || len(res.Rounds) == 0 {
			continue
		}
		s := series{label: fmt.Sprintf("%s, %s connections", r.Scenario, thousands(float64(res.Connections))),
			targeted: r.Scenario == "broadcast" && res.Connections == 15000}
		for _, x := range res.Rounds {
			s.ms = append(s.ms, x.Seconds*1000)
		}
		out = append(out, s)
	}
	return out
}

// roundsPanel draws one row of dots per series, a dot per round, on a
// shared millisecond axis with the 50 ms all-received target.
func roundsPanel(p func(string, ...any), ss []series, top int) {
	const targetMS = 50
	hi := float64(targetMS)
	for _, s := range ss {
		for _, v := range s.ms {
			hi = max(hi, v)
		}
	}
	hi = niceCeil(hi)
	x := func(v float64) float64 { return svgBarX + v/hi*svgBarW }
	p(`<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", svgLabelX, top,
		esc("Time until every connection had the broadcast, one dot per round (dashed: the 50 ms p99 target at 15,000)"))
	rowsTop := top + svgPanelGap - 20
	bottom := rowsTop + len(ss)*svgRow
	for i := 0; i <= 4; i++ {
		v := hi * float64(i) / 4
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#dddddd"/>`+"\n", x(v), rowsTop-8, x(v), bottom)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>`+"\n", x(v), bottom+16, esc(FormatValue(v/1000, UnitSeconds, true)))
	}
	p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333333" stroke-dasharray="4 3"/>`+"\n", x(targetMS), rowsTop-8, x(targetMS), bottom)
	for i, s := range ss {
		y := rowsTop + i*svgRow
		p(`<text x="%d" y="%d">%s</text>`+"\n", svgLabelX, y+13, esc(s.label))
		worst := 0.0
		for j, v := range s.ms {
			fill := "#1565c0" // no latency target: the cluster's is only that all get it
			switch {
			case s.targeted && v > targetMS:
				fill = "#c62828"
			case s.targeted:
				fill = "#2e7d32"
			}
			worst = max(worst, v)
			p(`<circle cx="%.1f" cy="%d" r="5" fill="%s" fill-opacity="0.7"><title>%s</title></circle>`+"\n",
				x(v), y+9, fill, esc(fmt.Sprintf("%s: round %d, %.1f ms", s.label, j+1, v)))
		}
		p(`<text x="%d" y="%d">%s</text>`+"\n", svgTextX, y+13, esc(fmt.Sprintf("%d rounds, slowest %.1f ms", len(s.ms), worst)))
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// esc escapes s for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
