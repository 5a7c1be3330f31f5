package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// IdleConfig configures RunIdle.
type IdleConfig struct {
	Config
	// Deliver is how every connection gets its message: "message" (default,
	// a persisted-message job per batch of users on the node's stream, as
	// the relay writes them) or "broadcast" (one broadcast job).
	Deliver string
	// Settle is the wait between the last delivery and the measurement (default 5s).
	Settle time.Duration
	// CPUWindow is how long the idle node's CPU time is measured (default:
	// the heartbeat interval, so every client pings once in it).
	CPUWindow time.Duration
	// HeapProfile, if set, is a file the node's heap profile is written to
	// once the clients idle (go tool pprof -sample_index=inuse_space FILE).
	HeapProfile string
}

// IdleResult is what RunIdle measured. The clients connect in two equal
// halves; each half receives its message and settles before the node is
// measured. Whole figures are the growth over the node's baseline (before
// any client connected) divided by all connections; marginal figures are
// the growth from the first half to the whole divided by the second half,
// which leaves out what the node allocates once (pools and buffers that
// grow with the first connections), so they are the better estimate of
// what one more idle connection costs.
type IdleResult struct {
	Connections    int     `json:"connections"`
	Workers        int     `json:"worker_processes"`
	Deliver        string  `json:"deliver"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectRate    float64 `json:"connects_per_second"`
	DeliverSeconds float64 `json:"deliver_seconds"` // longest: from writing a half's jobs to the last first receipt

	BaselineRSS        int64   `json:"baseline_rss_bytes"`
	HalfRSS            int64   `json:"half_rss_bytes"`
	RSS                int64   `json:"rss_bytes"`          // after a forced GC that returned free pages to the OS
	RSSUnforced        int64   `json:"rss_unforced_bytes"` // before that, as the process happened to be
	RSSPerConn         float64 `json:"rss_per_conn_bytes"`
	RSSPerConnUnforced float64 `json:"rss_unforced_per_conn_bytes"`
	MarginalRSSPerConn float64 `json:"marginal_rss_per_conn_bytes"`
	HeapPerConn        float64 `json:"heap_inuse_per_conn_bytes"`
	MarginalHeap       float64 `json:"marginal_heap_inuse_per_conn_bytes"`
	ObjectsPerConn     float64 `json:"heap_objects_per_conn"`
	StackPerConn       float64 `json:"stack_per_conn_bytes"`
	GoroutinesPerConn  float64 `json:"goroutines_per_conn"`

	CPUWindowSeconds float64 `json:"cpu_window_seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"` // node CPU time (user+system) used in the window
	CPUPercent       float64 `json:"cpu_percent"` // of one core

	Baseline MemoryStats `json:"baseline"`
	Half     MemoryStats `json:"half"`
	After    MemoryStats `json:"after"`
}

// RunIdle connects N clients (in two halves), delivers one message to
// each, lets them idle (pinging at the heartbeat interval) and measures
// the node.
func RunIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Deliver == "" {
		cfg.Deliver = "message"
	}
	if cfg.Deliver != "message" && cfg.Deliver != "broadcast" {
		return IdleResult{}, fmt.Errorf("loadgen: deliver must be message or broadcast, got %q", cfg.Deliver)
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 5 * time.Second
	}
	if cfg.CPUWindow <= 0 {
		cfg.CPUWindow = 30 * time.Second
		if cfg.Server.Heartbeat > 0 {
			cfg.CPUWindow = max(cfg.Server.Heartbeat, time.Second)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	s, err := open(ctx, cfg.Config)
	if err != nil {
		return IdleResult{}, err
	}
	defer s.close()
	n := s.cfg.N
	r := IdleResult{Connections: n, Deliver: cfg.Deliver, BaselineRSS: s.baselineRSS, Baseline: s.baseline}

	// phase connects the users first .. first+count-1, delivers to them
	// and lets the node settle.
	var connect time.Duration
	rounds := 0
	phase := func(first int64, count int) error {
		d, err := s.connect(ctx, first, count)
		if err != nil {
			return err
		}
		connect += d
		want := s.connections() + int64(count) // every connection so far
		start := time.Now()
		if cfg.Deliver == "message" {
			err = s.sendMessages(ctx, 1, first, count)
		} else {
			rounds++
			_, err = s.broadcast(ctx, "bench-idle-"+strconv.Itoa(rounds))
		}
		if err != nil {
			return err
		}
		t, err := s.wait(ctx, "deliveries", func(t Status) bool { return t.Received >= want })
		if err != nil {
			return err
		}
		r.DeliverSeconds = max(r.DeliverSeconds, time.Unix(0, t.LastReceiveNS).Sub(start).Seconds())
		return sleepCtx(ctx, cfg.Settle)
	}

	half := n / 2
	r.HalfRSS, r.Half = r.BaselineRSS, r.Baseline
	if half > 0 {
		if err := phase(1, half); err != nil {
			return r, err
		}
		if r.Half, err = s.node.memory(ctx, true); err != nil {
			return r, err
		}
		if r.HalfRSS, err = RSS(s.node.pid); err != nil {
			return r, err
		}
	}
	if err := phase(int64(half)+1, n-half); err != nil {
		return r, err
	}
	r.Workers = s.workers
	r.ConnectSeconds = connect.Seconds()
	r.ConnectRate = float64(n) / connect.Seconds()
	if r.RSSUnforced, err = RSS(s.node.pid); err != nil {
		return r, err
	}
	if r.After, err = s.node.memory(ctx, true); err != nil {
		return r, err
	}
	if r.RSS, err = RSS(s.node.pid); err != nil {
		return r, err
	}
	if cfg.HeapProfile != "" {
		if err := s.node.heapProfile(ctx, cfg.HeapProfile); err != nil {
			return r, err
		}
	}
	per := func(after, before uint64, k int) float64 { return (float64(after) - float64(before)) / float64(k) }
	r.RSSPerConn = per(uint64(r.RSS), uint64(r.BaselineRSS), n)
	r.RSSPerConnUnforced = per(uint64(r.RSSUnforced), uint64(r.BaselineRSS), n)
	r.MarginalRSSPerConn = per(uint64(r.RSS), uint64(r.HalfRSS), n-half)
	r.HeapPerConn = per(r.After.HeapInuse, r.Baseline.HeapInuse, n)
	r.MarginalHeap = per(r.After.HeapInuse, r.Half.HeapInuse, n-half)
	r.ObjectsPerConn = per(r.After.HeapObjects, r.Baseline.HeapObjects, n)
	r.StackPerConn = per(r.After.StackInuse, r.Baseline.StackInuse, n)
	r.GoroutinesPerConn = per(uint64(r.After.Goroutines), uint64(r.Baseline.Goroutines), n)

	cpu0, err := CPUTime(s.node.pid)
	if err != nil {
		return r, err
	}
	w0 := time.Now()
	if err := sleepCtx(ctx, cfg.CPUWindow); err != nil {
		return r, err
	}
	cpu1, err := CPUTime(s.node.pid)
	if err != nil {
		return r, err
	}
	window := time.Since(w0)
	r.CPUWindowSeconds = window.Seconds()
	r.CPUSeconds = (cpu1 - cpu0).Seconds()
	r.CPUPercent = 100 * r.CPUSeconds / window.Seconds()
	// Every connection must have survived the whole run, idle included.
	return r, s.healthy()
}

// messageBatch is the number of users one message job targets, as the
// relay batches the users of one node into one stream entry.
const messageBatch = 500

// sendMessages writes persisted-message jobs with the given version for
// the n users from uid first on to the node's stream.
func (s *session) sendMessages(ctx context.Context, version uint64, first int64, n int) error {
	body := json.RawMessage(`{"type":"bench","content":{"text":"hello"}}`)
	var jobs []stream.NodeJob
	end := first + int64(n)
	for from := first; from < end; from += messageBatch {
		j := job.Job{ID: "bench-" + strconv.FormatInt(from, 10), Kind: job.KindMessage, Body: body, EnqueuedMS: time.Now().UnixMilli()}
		for uid := from; uid < from+messageBatch && uid < end; uid++ {
			j.Targets = append(j.Targets, job.Target{UserID: uid, Version: version})
		}
		jobs = append(jobs, stream.NodeJob{Node: s.node.nodeID, Job: j})
	}
	return s.streams.Publish(ctx, jobs)
}

// broadcast writes one broadcast job for every session and returns when it
// was written.
func (s *session) broadcast(ctx context.Context, id string) (time.Time, error) {
	at := time.Now()
	_, err := s.streams.Broadcast(ctx, job.Job{ID: id, Kind: job.KindBroadcast, PushID: id,
		Body: json.RawMessage(`{"text":"bench broadcast"}`), EnqueuedMS: at.UnixMilli()})
	return at, err
}

// WriteIdleTable prints r for people.
func WriteIdleTable(w io.Writer, r IdleResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kib := func(b float64) string { return strconv.FormatFloat(b/1024, 'f', 2, 64) + " KiB" }
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }
	rows := [][2]string{
		{"connections", fmt.Sprintf("%d over %d worker processes, in two halves", r.Connections, r.Workers)},
		{"connect rate", fmt.Sprintf("%.0f/s (%.2fs)", r.ConnectRate, r.ConnectSeconds)},
		{"delivery (" + r.Deliver + ")", fmt.Sprintf("%.3fs until every connection had one", r.DeliverSeconds)},
		{"node RSS", fmt.Sprintf("%s -> %s -> %s (unforced %s)", mib(r.BaselineRSS), mib(r.HalfRSS), mib(r.RSS), mib(r.RSSUnforced))},
		{"RSS per connection", kib(r.RSSPerConn) + " (unforced " + kib(r.RSSPerConnUnforced) + ", marginal " + kib(r.MarginalRSSPerConn) + ")"},
		{"heap in use per connection", kib(r.HeapPerConn) + fmt.Sprintf(" (%.1f objects, marginal ", r.ObjectsPerConn) + kib(r.MarginalHeap) + ")"},
		{"stacks per connection", kib(r.StackPerConn) + fmt.Sprintf(" (%.3f goroutines)", r.GoroutinesPerConn)},
		{"idle CPU", fmt.Sprintf("%.2fs in %.0fs (%.1f%% of a core)", r.CPUSeconds, r.CPUWindowSeconds, r.CPUPercent)},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return errors.Join(tw.Flush())
}
