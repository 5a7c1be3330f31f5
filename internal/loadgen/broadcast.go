package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// BroadcastConfig configures RunBroadcast.
type BroadcastConfig struct {
	Config
	Rounds int // broadcasts sent one after another (default 5)
}

// BroadcastRound is one broadcast: from its XADD to the moment the last of
// the N connections had read it.
type BroadcastRound struct {
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"deliveries_per_second"`
}

// BroadcastResult is what RunBroadcast measured.
type BroadcastResult struct {
	Connections int              `json:"connections"`
	Workers     int              `json:"workers"`
	Rounds      []BroadcastRound `json:"rounds"`
	// Best and Median are over the rounds' deliveries per second.
	Best   float64 `json:"best_deliveries_per_second"`
	Median float64 `json:"median_deliveries_per_second"`
	// All-received latency over the rounds (nearest rank): from a
	// broadcast's XADD until the last of the N connections had it.
	AllP50 float64 `json:"all_received_p50_seconds"`
	AllP99 float64 `json:"all_received_p99_seconds"`
	AllMax float64 `json:"all_received_max_seconds"`
	// NodeCPUSeconds is the node's CPU time (user+system, /proc) from the
	// first broadcast to the last receipt, gaps between rounds included;
	// NodeCPUPerDelivery is that per delivery, in microseconds: what one
	// delivery costs the node, whatever the clients sharing the machine
	// cost.
	NodeCPUSeconds     float64 `json:"node_cpu_seconds"`
	NodeCPUPerDelivery float64 `json:"node_cpu_us_per_delivery"`
}

// RunBroadcast connects N clients and sends Rounds broadcasts, each after
// every connection received the previous one, timing each from the XADD to
// the last connection's receipt (all processes share the machine's clock).
func RunBroadcast(ctx context.Context, cfg BroadcastConfig) (BroadcastResult, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 5
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	s, err := open(ctx, cfg.Config)
	if err != nil {
		return BroadcastResult{}, err
	}
	defer s.close()
	if _, err := s.connect(ctx, 1, s.cfg.N); err != nil {
		return BroadcastResult{}, err
	}
	n := int64(s.cfg.N)
	r := BroadcastResult{Connections: s.cfg.N, Workers: s.cfg.Workers}
	cpu0, err := CPUTime(s.node.pid)
	if err != nil {
		return r, err
	}
	for i := range cfg.Rounds {
		at, err := s.broadcast(ctx, "bench-"+strconv.Itoa(i))
		if err != nil {
			return r, err
		}
		want := n * int64(i+1)
		t, err := s.wait(ctx, "broadcast "+strconv.Itoa(i+1)+" (does the node consume the broadcast stream?)",
			func(t Status) bool { return t.Frames >= want })
		if err != nil {
			return r, err
		}
		if t.Frames > want {
			return r, fmt.Errorf("loadgen: %d frames for %d deliveries: some connections got a broadcast twice", t.Frames, want)
		}
		d := time.Unix(0, t.LastReceiveNS).Sub(at)
		r.Rounds = append(r.Rounds, BroadcastRound{Seconds: d.Seconds(), PerSecond: float64(n) / d.Seconds()})
	}
	cpu1, err := CPUTime(s.node.pid)
	if err != nil {
		return r, err
	}
	r.NodeCPUSeconds = (cpu1 - cpu0).Seconds()
	r.NodeCPUPerDelivery = r.NodeCPUSeconds / float64(n*int64(cfg.Rounds)) * 1e6
	rates := make([]float64, len(r.Rounds))
	secs := make([]float64, len(r.Rounds))
	for i, x := range r.Rounds {
		rates[i], secs[i] = x.PerSecond, x.Seconds
		r.Best = max(r.Best, x.PerSecond)
	}
	r.Median = median(rates)
	r.AllP50, r.AllP99, r.AllMax = percentile(secs, 50), percentile(secs, 99), percentile(secs, 100)
	return r, s.healthy()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteBroadcastTable prints r for people.
func WriteBroadcastTable(w io.Writer, r BroadcastResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "connections\t%d over %d worker processes\n", r.Connections, r.Workers)
	for i, x := range r.Rounds {
		fmt.Fprintf(tw, "round %d\t%.1f ms, %.0f deliveries/s\n", i+1, x.Seconds*1000, x.PerSecond)
	}
	fmt.Fprintf(tw, "median\t%.0f deliveries/s (best %.0f)\n", r.Median, r.Best)
	fmt.Fprintf(tw, "all received\tp50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.AllP50*1000, r.AllP99*1000, r.AllMax*1000)
	fmt.Fprintf(tw, "node CPU\t%.2fs, %.2f us per delivery\n", r.NodeCPUSeconds, r.NodeCPUPerDelivery)
	return tw.Flush()
}
