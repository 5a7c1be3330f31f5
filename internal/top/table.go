// The table is the talk's: one row per process per second, the columns an
// operator reads at a glance, with what needs attention in colour
// (timeouts and server errors red, backlog and queued work yellow). It is
// a plain stream of rows, like vmstat, so it scrolls back, pipes and works
// over any ssh session; the header repeats every headerEvery rows.

package top

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
)

// headerEvery is how many seconds pass between two headers.
const headerEvery = 20

// column is one column of the table.
type column struct {
	head  string
	width int
	value func(s live.Snapshot) string
	alert func(s live.Snapshot) level // zero: plain
}

type level int

const (
	plain level = iota
	warn        // backlog, queued work: yellow
	bad         // timeouts, server errors: red
)

func nonZero(l level, f func(s live.Snapshot) int64) func(s live.Snapshot) level {
	return func(s live.Snapshot) level {
		if f(s) != 0 {
			return l
		}
		return plain
	}
}

func dep(s live.Snapshot, name string) live.Dep {
	for _, d := range s.Deps {
		if d.Name == name {
			return d
		}
	}
	return live.Dep{Name: name}
}

func cacheRate(s live.Snapshot, name string) string {
	for _, c := range s.Caches {
		if c.Name == name && c.Hits+c.Misses > 0 {
			return fmt.Sprintf("%.0f", c.HitRate*100)
		}
	}
	return "-"
}

// Backlog sums of a snapshot.
func cmdq(s live.Snapshot) int64 {
	n := s.Backlog.Outbox + s.Backlog.Webhook
	for _, st := range s.Backlog.Streams {
		n += st.Lag
	}
	return n
}

func pending(s live.Snapshot) int64 {
	var n int64
	for _, st := range s.Backlog.Streams {
		n += st.Pending
	}
	return n
}

func pools(s live.Snapshot) (busy, queued, shed int64) {
	for _, p := range s.Pools {
		busy += p.Busy
		queued += p.Queued
		shed += p.Shed
	}
	return
}

var columns = []column{
	{"time", 8, func(s live.Snapshot) string { return s.At.Local().Format("15:04:05") }, nil},
	{"process", 14, func(s live.Snapshot) string { return s.Process }, nil},
	{"cmd", 7, func(s live.Snapshot) string { return count(s.Work.Calls) }, nil},
	{"p50ms", 6, func(s live.Snapshot) string { return ms(s.Work.P50MS) }, nil},
	{"p99ms", 6, func(s live.Snapshot) string { return ms(s.Work.P99MS) }, nil},
	{"htime", 5, func(s live.Snapshot) string { return count(s.Work.Timeouts) }, nonZero(bad, func(s live.Snapshot) int64 { return s.Work.Timeouts })},
	{"err", 5, func(s live.Snapshot) string { return count(s.Work.Errors) }, nonZero(bad, func(s live.Snapshot) int64 { return s.Work.Errors })},
	{"cerr", 5, func(s live.Snapshot) string { return count(s.Work.ClientErrors) }, nil},
	{"cmdq", 6, func(s live.Snapshot) string { return count(cmdq(s)) }, nonZero(warn, cmdq)},
	{"pend", 5, func(s live.Snapshot) string { return count(pending(s)) }, nonZero(warn, pending)},
	{"slowKB", 6, func(s live.Snapshot) string { return count(s.Backlog.SlowBytes / 1024) }, nonZero(warn, func(s live.Snapshot) int64 { return s.Backlog.SlowBytes })},
	{"work", 5, func(s live.Snapshot) string { b, _, _ := pools(s); return count(b) }, nil},
	{"workq", 5, func(s live.Snapshot) string { _, q, _ := pools(s); return count(q) }, nonZero(warn, func(s live.Snapshot) int64 { _, q, _ := pools(s); return q })},
	{"shed", 5, func(s live.Snapshot) string { _, _, n := pools(s); return count(n) }, nonZero(bad, func(s live.Snapshot) int64 { _, _, n := pools(s); return n })},
	{"sql_c", 6, func(s live.Snapshot) string { return count(dep(s, "sql").Calls) }, nil},
	{"sql_t", 7, func(s live.Snapshot) string { return ms(dep(s, "sql").TimeMS) }, nil},
	{"rds_c", 6, func(s live.Snapshot) string { return count(dep(s, "redis").Calls) }, nil},
	{"rds_t", 7, func(s live.Snapshot) string { return ms(dep(s, "redis").TimeMS) }, nil},
	{"sess", 7, func(s live.Snapshot) string { return count(s.Sessions.Total) }, nil},
	{"hs", 5, func(s live.Snapshot) string { return count(s.Sessions.Handshaking) }, nil},
	{"login", 7, func(s live.Snapshot) string { return count(s.Sessions.LoggedIn) }, nil},
	{"gc", 3, func(s live.Snapshot) string { return count(s.Runtime.GC) }, nil},
	{"gc_ms", 6, func(s live.Snapshot) string { return ms(s.Runtime.GCPauseMS) }, nil},
	{"heapMB", 6, func(s live.Snapshot) string { return count(s.Runtime.HeapBytes >> 20) }, nil},
	{"gor", 6, func(s live.Snapshot) string { return count(s.Runtime.Goroutines) }, nil},
	{"rxKB", 6, func(s live.Snapshot) string { return count(s.Net.RxBytes / 1024) }, nil},
	{"txKB", 6, func(s live.Snapshot) string { return count(s.Net.TxBytes / 1024) }, nil},
	{"key%", 4, func(s live.Snapshot) string { return cacheRate(s, metrics.CacheAPIKey) }, nil},
	{"rev%", 4, func(s live.Snapshot) string { return cacheRate(s, metrics.CacheRevocation) }, nil},
	{"ver%", 4, func(s live.Snapshot) string { return cacheRate(s, metrics.CacheVersion) }, nil},
}

// count prints a count in at most 6 characters.
func count(n int64) string {
	switch {
	case n < 100_000 && n > -100_000:
		return fmt.Sprint(n)
	case n < 100_000_000:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprintf("%dM", n/1_000_000)
}

// ms prints milliseconds: tenths below 100, whole above.
func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	case v < 100_000:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.0fk", v/1000)
}

// table writes rows to out, colouring them if out is a colour terminal.
type table struct {
	out   io.Writer
	r     *lipgloss.Renderer
	head  lipgloss.Style
	sum   lipgloss.Style
	warn  lipgloss.Style
	bad   lipgloss.Style
	since int // rows since the last header, in seconds
}

func newTable(out io.Writer) *table {
	r := lipgloss.NewRenderer(out)
	return &table{
		out:   out,
		r:     r,
		head:  r.NewStyle().Bold(true).Underline(true),
		sum:   r.NewStyle().Bold(true),
		warn:  r.NewStyle().Foreground(lipgloss.Color("3")).Bold(true),
		bad:   r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true).Reverse(true),
		since: headerEvery,
	}
}

// second writes one second's rows; the first is bold when there are more
// (the cluster's sum above its processes).
func (t *table) second(rows []live.Snapshot) error {
	var b strings.Builder
	if t.since >= headerEvery {
		t.since = 0
		cells := make([]string, len(columns))
		for i, c := range columns {
			cells[i] = pad(c.head, c.width, i == 1)
		}
		b.WriteString(t.head.Render(strings.Join(cells, " ")))
		b.WriteByte('\n')
	}
	t.since++
	for k, s := range rows {
		cells := make([]string, len(columns))
		for i, c := range columns {
			cell := pad(c.value(s), c.width, i == 1)
			if c.alert != nil {
				switch c.alert(s) {
				case warn:
					cell = t.warn.Render(cell)
				case bad:
					cell = t.bad.Render(cell)
				}
			} else if k == 0 && len(rows) > 1 {
				cell = t.sum.Render(cell)
			}
			cells[i] = cell
		}
		b.WriteString(strings.Join(cells, " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.out, b.String())
	return err
}

// pad fits v in width: right-aligned numbers, left-aligned names.
func pad(v string, width int, left bool) string {
	if len(v) > width {
		v = v[:width]
	}
	if left {
		return fmt.Sprintf("%-*s", width, v)
	}
	return fmt.Sprintf("%*s", width, v)
}
