package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// FramesConfig configures RunFrames: the chat scenario at one steady rate,
// reporting what the recipients' real clients (push/client) send to the
// server per 1,000 messages they deliver, then a burst of Burst messages to
// every recipient, counting the frames of both directions it costs (the
// talk's "n + 4"). Whether the clients ack on heartbeats (protocol version
// 2) or with Ack frames (version 1) is the stack's heartbeat_acks switch
// (Stack.Switches).
type FramesConfig struct {
	ChatConfig
	Rate     int           // messages per second (default 1000)
	Duration time.Duration // how long (default 30s)
	Burst    int           // messages per recipient in the burst (default 20; negative: no burst)
}

// FramesBurst is what the burst cost: frames of both directions per
// recipient, from the burst's first send until a heartbeat interval after
// its last delivery (so the acks it caused are counted, and one or two
// heartbeat exchanges that would have happened anyway).
type FramesBurst struct {
	PerRecipient int        `json:"messages_per_recipient"` // n
	Seconds      float64    `json:"seconds"`                // how long the senders took
	Frames       FrameCount `json:"frames"`
	BothWays     float64    `json:"frames_both_ways_per_recipient"` // mean over the recipients
	Lost         int64      `json:"lost"`
}

// FramesResult is what RunFrames measured.
type FramesResult struct {
	Users     int          `json:"users"`
	Rate      int          `json:"rate"`
	Seconds   float64      `json:"seconds"`
	PerUser   float64      `json:"messages_per_recipient_per_second"`
	Frames    FrameCount   `json:"frames"`
	Lost      int64        `json:"lost"`
	EndToEnd  Latency      `json:"end_to_end"`
	Sustained bool         `json:"sustained"`
	Chat      ChatStep     `json:"chat_step"`
	Burst     *FramesBurst `json:"burst,omitempty"`
	Protocol  string       `json:"protocol"` // how the clients acked: the heartbeat_acks switch
	LoadStart [3]float64   `json:"loadavg_start"`
	LoadEnd   [3]float64   `json:"loadavg_end"`
}

// RunFrames runs the frames scenario.
func RunFrames(ctx context.Context, cfg FramesConfig) (FramesResult, error) {
	if cfg.Rate <= 0 {
		cfg.Rate = 1000
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Burst == 0 {
		cfg.Burst = 20
	}
	cfg.Rates, cfg.Step, cfg.burst = []int{cfg.Rate}, cfg.Duration, max(cfg.Burst, 0)
	r, err := RunChat(ctx, cfg.ChatConfig)
	if err != nil {
		return FramesResult{}, err
	}
	if len(r.Steps) == 0 {
		return FramesResult{}, errors.New("loadgen: frames: the chat run has no step")
	}
	s := r.Steps[0]
	res := FramesResult{
		Users: r.Users, Rate: cfg.Rate, Seconds: s.Seconds, PerUser: round3(s.AcceptedRate / float64(r.Users)),
		Frames: s.Frames, Lost: s.Lost, EndToEnd: s.EndToEnd, Sustained: s.Sustained, Chat: s,
		LoadStart: r.LoadStart, LoadEnd: r.LoadEnd, Protocol: cfg.Stack.protocol(),
	}
	if b := r.Steps[len(r.Steps)-1]; b.Burst {
		f := b.Frames
		res.Burst = &FramesBurst{PerRecipient: cfg.Burst, Seconds: b.Seconds, Frames: f, Lost: b.Lost,
			BothWays: round3(float64(f.Frames+f.Received) / float64(r.Users))}
		res.Lost += b.Lost
	}
	return res, nil
}

// WriteFramesTable prints r for people.
func WriteFramesTable(w io.Writer, r FramesResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	f := r.Frames
	rows := [][2]string{
		{"load", fmt.Sprintf("%d msgs/s for %.0fs to %d recipients online (%.2f msgs/s each); machine load average %.1f -> %.1f", r.Rate, r.Seconds, r.Users, r.PerUser, r.LoadStart[0], r.LoadEnd[0])},
		{"delivered", fmt.Sprintf("%d (lost %d, e2e p50 %.1f ms, p99 %.1f ms)", f.Delivered, r.Lost, r.EndToEnd.P50, r.EndToEnd.P99)},
		{"client->server frames", fmt.Sprintf("%d = %.1f per 1,000 delivered", f.Frames, f.PerThousand)},
		{"  acks", fmt.Sprintf("%d = %.1f per 1,000 (cumulative, every %s or %d versions)", f.Acks, f.AcksPerThou, f.AckInterval, f.AckBatch)},
		{"  pings", fmt.Sprintf("%d (heartbeat %s)", f.Pings, f.HeartbeatEvery)},
		{"  hellos", fmt.Sprintf("%d", f.Hellos)},
		{"  heartbeats", fmt.Sprintf("%d (version 2: they carry the acks and replace the pings)", f.Heartbeats)},
		{"REST sync requests", fmt.Sprintf("%d = %.2f per 1,000 (not frames)", f.SyncRequests, f.SyncsPerThou)},
		{"protocol", r.Protocol},
	}
	if b := r.Burst; b != nil {
		rows = append(rows,
			[2]string{"burst", fmt.Sprintf("%d messages to each recipient in %.1fs (lost %d)", b.PerRecipient, b.Seconds, b.Lost)},
			[2]string{"  frames both ways", fmt.Sprintf("%.1f per recipient (n + %.1f): %d sent (%d acks, %d heartbeats, %d pings), %d received, until a heartbeat after the last delivery",
				b.BothWays, b.BothWays-float64(b.PerRecipient), b.Frames.Frames, b.Frames.Acks, b.Frames.Heartbeats, b.Frames.Pings, b.Frames.Received)})
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// Targets of the frames scenario (issue 13, target 3): at most 50
// client-to-server frames per 1,000 deliveries at 0.5 messages/s per
// recipient, and a burst of n costs at most n + 4 frames both ways.
func (r FramesResult) Targets() []Target {
	t := AtMost("client-to-server frames per 1,000 delivered", 50, r.Frames.PerThousand, UnitCount)
	t.Note = fmt.Sprintf("%.2f msgs/s per recipient, %s; %.1f acks, %d heartbeats, %d pings, heartbeat %s",
		r.PerUser, r.Protocol, r.Frames.AcksPerThou, r.Frames.Heartbeats, r.Frames.Pings, r.Frames.HeartbeatEvery)
	out := []Target{t}
	if b := r.Burst; b != nil {
		bt := AtMost(fmt.Sprintf("frames both ways per recipient for a burst of n = %d", b.PerRecipient), float64(b.PerRecipient+4), b.BothWays, UnitCount)
		bt.Note = "mean over the recipients, counted until a heartbeat interval after the last delivery"
		out = append(out, bt)
	}
	return append(out, AtMost("messages lost", 0, float64(r.Lost), UnitCount))
}
