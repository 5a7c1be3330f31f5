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

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/job"
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

// IdleResult is what RunIdle measured. Byte figures per connection are the
// growth over the node's baseline (its memory before any client connected)
// divided by the connections.
type IdleResult struct {
	Connections    int     `json:"connections"`
	Workers        int     `json:"workers"`
	Deliver        string  `json:"deliver"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectRate    float64 `json:"connects_per_second"`
	DeliverSeconds float64 `json:"deliver_seconds"` // from the first job written to the last connection's first receipt

	BaselineRSS        int64   `json:"baseline_rss_bytes"`
	RSS                int64   `json:"rss_bytes"`          // after a forced GC that returned free pages to the OS
	RSSUnforced        int64   `json:"rss_unforced_bytes"` // before that, as the process happened to be
	RSSPerConn         float64 `json:"rss_per_conn_bytes"`
	RSSPerConnUnforced float64 `json:"rss_unforced_per_conn_bytes"`
	HeapPerConn        float64 `json:"heap_inuse_per_conn_bytes"`
	ObjectsPerConn     float64 `json:"heap_objects_per_conn"`
	StackPerConn       float64 `json:"stack_per_conn_bytes"`
	GoroutinesPerConn  float64 `json:"goroutines_per_conn"`

	CPUWindowSeconds float64 `json:"cpu_window_seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"` // node CPU time (user+system) used in the window
	CPUPercent       float64 `json:"cpu_percent"` // of one core

	Baseline MemoryStats `json:"baseline"`
	After    MemoryStats `json:"after"`
}

// RunIdle connects N clients, delivers one message to each, lets them idle
// (pinging at the heartbeat interval) and measures the node.
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
		cfg.CPUWindow = max(cfg.Server.Heartbeat, time.Second)
		if cfg.Server.Heartbeat <= 0 {
			cfg.CPUWindow = 30 * time.Second
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
	r := IdleResult{
		Connections:    n,
		Workers:        s.cfg.Workers,
		Deliver:        cfg.Deliver,
		ConnectSeconds: s.connectTime.Seconds(),
		ConnectRate:    float64(n) / s.connectTime.Seconds(),
		BaselineRSS:    s.baselineRSS,
		Baseline:       s.baseline,
	}

	start := time.Now()
	if cfg.Deliver == "message" {
		err = s.sendMessages(ctx, 1, n)
	} else {
		_, err = s.broadcast(ctx, "bench-idle")
	}
	if err != nil {
		return r, err
	}
	t, err := s.fleet.wait(ctx, "deliveries", func(t Status) bool { return t.Received >= int64(n) })
	if err != nil {
		return r, err
	}
	r.DeliverSeconds = time.Unix(0, t.LastReceiveNS).Sub(start).Seconds()

	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return r, err
	}
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
	per := func(after, before uint64) float64 { return (float64(after) - float64(before)) / float64(n) }
	r.RSSPerConn = per(uint64(r.RSS), uint64(r.BaselineRSS))
	r.RSSPerConnUnforced = per(uint64(r.RSSUnforced), uint64(r.BaselineRSS))
	r.HeapPerConn = per(r.After.HeapInuse, r.Baseline.HeapInuse)
	r.ObjectsPerConn = per(r.After.HeapObjects, r.Baseline.HeapObjects)
	r.StackPerConn = per(r.After.StackInuse, r.Baseline.StackInuse)
	r.GoroutinesPerConn = per(uint64(r.After.Goroutines), uint64(r.Baseline.Goroutines))

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
// users 1..n to the node's stream.
func (s *session) sendMessages(ctx context.Context, version uint64, n int) error {
	body := json.RawMessage(`{"type":"bench","content":{"text":"hello"}}`)
	pipe := s.rdb.Pipeline()
	for first := 1; first <= n; first += messageBatch {
		j := job.Job{ID: "bench-" + strconv.Itoa(first), Kind: job.KindMessage, Body: body, EnqueuedMS: time.Now().UnixMilli()}
		for uid := first; uid < first+messageBatch && uid <= n; uid++ {
			j.Targets = append(j.Targets, job.Target{UserID: int64(uid), Version: version})
		}
		b, err := job.Encode(j)
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.Stream(s.node.nodeID), Values: []any{job.Field, b}})
	}
	_, err := pipe.Exec(ctx)
	return err
}

// broadcast writes one broadcast job for every session and returns when it
// was written.
func (s *session) broadcast(ctx context.Context, id string) (time.Time, error) {
	b, err := job.Encode(job.Job{ID: id, Kind: job.KindBroadcast, PushID: id,
		Body: json.RawMessage(`{"text":"bench broadcast"}`), EnqueuedMS: time.Now().UnixMilli()})
	if err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	return at, s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.keys.Broadcast(), Values: []any{job.Field, b}}).Err()
}

// WriteIdleTable prints r for people.
func WriteIdleTable(w io.Writer, r IdleResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kib := func(b float64) string { return strconv.FormatFloat(b/1024, 'f', 2, 64) + " KiB" }
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }
	rows := [][2]string{
		{"connections", fmt.Sprintf("%d over %d worker processes", r.Connections, r.Workers)},
		{"connect rate", fmt.Sprintf("%.0f/s (%.2fs)", r.ConnectRate, r.ConnectSeconds)},
		{"delivery (" + r.Deliver + ")", fmt.Sprintf("%.3fs until every connection had one", r.DeliverSeconds)},
		{"node RSS", fmt.Sprintf("%s -> %s (unforced %s)", mib(r.BaselineRSS), mib(r.RSS), mib(r.RSSUnforced))},
		{"RSS per connection", kib(r.RSSPerConn) + " (unforced " + kib(r.RSSPerConnUnforced) + ")"},
		{"heap in use per connection", kib(r.HeapPerConn) + fmt.Sprintf(" (%.1f objects)", r.ObjectsPerConn)},
		{"stacks per connection", kib(r.StackPerConn) + fmt.Sprintf(" (%.3f goroutines)", r.GoroutinesPerConn)},
		{"idle CPU", fmt.Sprintf("%.2fs in %.0fs (%.1f%% of a core)", r.CPUSeconds, r.CPUWindowSeconds, r.CPUPercent)},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return errors.Join(tw.Flush())
}
