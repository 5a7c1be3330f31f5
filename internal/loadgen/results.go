package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A result document is what every scenario prints on stdout and appends to
// the results folder (bench/results/<scenario>-<UTC stamp>.json); `tether
// bench report` turns the newest document of each scenario into
// docs/benchmarks.md. cmd/tether/bench.go wraps every scenario's result
// with NewDocument; a result type joins the report's table and chart by
// implementing Targeted (in the scenario's own file, with AtMost and
// AtLeast).

// Document is one run of one scenario.
type Document struct {
	Scenario  string    `json:"scenario"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"duration_seconds"`
	Command   string    `json:"command"` // the exact command line, to run it again
	Machine   Machine   `json:"machine"`
	// LoadEnd is the machine's load average (1, 5, 15 minutes) as the run
	// ended: the machine may be shared, and on two cores a load above 2
	// means the run competed for them. Runs last a minute or two, so the
	// 1- and 5-minute figures cover them.
	LoadEnd [3]float64      `json:"loadavg_end"`
	Params  map[string]any  `json:"params"`
	Results json.RawMessage `json:"results"`
	Targets []Target        `json:"targets"`
}

// Machine is what the run ran on: clients and servers share it, so its
// figures are part of every number.
type Machine struct {
	Cores    int    `json:"cores"`
	Memory   int64  `json:"memory_bytes"`
	Kernel   string `json:"kernel"`
	CPUModel string `json:"cpu_model"`
}

// Target is one figure of the issue's targets table, measured. Op is "<="
// or ">=": Value must be at most or at least Target. Numbers, not text, so
// that the report can say by how much a target was missed and chart it.
type Target struct {
	Name   string  `json:"name"`
	Op     string  `json:"op"`
	Target float64 `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"` // one of the Unit* constants
	Met    bool    `json:"met"`
	Note   string  `json:"note,omitempty"` // e.g. that the run was smaller than the target's size
}

// Units of targets, which the report formats.
const (
	UnitBytes     = "bytes"
	UnitSeconds   = "seconds"
	UnitPerSecond = "per_second"
	UnitCount     = "count"
	UnitPercent   = "percent"
)

// AtMost is a target Value <= limit.
func AtMost(name string, limit, value float64, unit string) Target {
	return Target{Name: name, Op: "<=", Target: limit, Value: value, Unit: unit, Met: value <= limit}
}

// AtLeast is a target Value >= floor.
func AtLeast(name string, floor, value float64, unit string) Target {
	return Target{Name: name, Op: ">=", Target: floor, Value: value, Unit: unit, Met: value >= floor}
}

// SizeNote notes on every target when a run was smaller (or larger) than
// the size the issue states the targets for, so that a smoke run is never
// read as the figure.
func SizeNote(ts []Target, ran, issue int, what string) []Target {
	if ran == issue {
		return ts
	}
	for i := range ts {
		ts[i].Note = fmt.Sprintf("ran with %d %s; the target is for %d", ran, what, issue)
	}
	return ts
}

// Targeted is a scenario result that measures targets of the issue.
type Targeted interface {
	Targets() []Target
}

// Targets of the idle scenario: at 15,000 connections, at most 4 KiB of
// node RSS per connection (after a forced GC, as docs/memory.md states it)
// and at least 10,000 connects per second.
func (r IdleResult) Targets() []Target {
	return SizeNote([]Target{
		AtMost("RSS per connection", 4<<10, r.RSSPerConn, UnitBytes),
		AtLeast("connect rate", 10000, r.ConnectRate, UnitPerSecond),
	}, r.Connections, 15000, "connections")
}

// Targets of the broadcast scenario, at 15,000 connections: the time until
// every connection has a broadcast at p99 over the rounds, and the median
// deliveries per second while fanning out.
func (r BroadcastResult) Targets() []Target {
	secs := make([]float64, len(r.Rounds))
	for i, x := range r.Rounds {
		secs[i] = x.Seconds
	}
	return SizeNote([]Target{
		AtMost("all received p99", 0.050, percentile(secs, 99), UnitSeconds),
		AtLeast("deliveries per second", 300000, r.Median, UnitPerSecond),
	}, r.Connections, 15000, "connections")
}

// percentile is the nearest-rank p-th percentile of xs (0 for none): over
// five rounds p99 is the slowest round, never an interpolation.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	return s[min(max(rank, 1), len(s))-1]
}

// NewDocument wraps the result of a run that started at started.
func NewDocument(scenario string, started time.Time, command string, params map[string]any, result any) (Document, error) {
	b, err := json.Marshal(result)
	if err != nil {
		return Document{}, err
	}
	d := Document{
		Scenario:  scenario,
		StartedAt: started.UTC().Truncate(time.Second),
		Seconds:   time.Since(started).Seconds(),
		Command:   command,
		Machine:   ThisMachine(),
		LoadEnd:   LoadAvg(),
		Params:    params,
		Results:   b,
		Targets:   []Target{},
	}
	if t, ok := result.(Targeted); ok {
		d.Targets = t.Targets()
	}
	return d, nil
}

// WriteDocument writes d into dir (created if missing) as
// <scenario>-<UTC stamp>.json and returns the file's path. It never
// overwrites: a second run in the same second gets a suffix.
func WriteDocument(dir string, d Document) (string, error) {
	if d.Scenario == "" || strings.ContainsAny(d.Scenario, `/\`) {
		return "", fmt.Errorf("loadgen: bad scenario name %q", d.Scenario)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	base := d.Scenario + "-" + d.StartedAt.UTC().Format("20060102T150405Z")
	for i := 1; ; i++ {
		name := base + ".json"
		if i > 1 {
			name = base + "-" + strconv.Itoa(i) + ".json"
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(b)
		if err := errors.Join(err, f.Close()); err != nil {
			return "", err
		}
		return path, nil
	}
}

// ThisMachine describes the machine from /proc; a figure it cannot read
// stays empty rather than failing the run.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.Memory = procField(b, "MemTotal:") << 10
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range bytes.Lines(b) {
			if k, v, ok := strings.Cut(string(line), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// procField is the first number after key in a /proc file such as meminfo.
func procField(b []byte, key string) int64 {
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			if f := strings.Fields(string(rest)); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
