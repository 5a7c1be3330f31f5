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
	rates := make([]float64, len(r.Rounds))
	for i, x := range r.Rounds {
		rates[i] = x.PerSecond
		r.Best = max(r.Best, x.PerSecond)
	}
	r.Median = median(rates)
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
	return tw.Flush()
}
