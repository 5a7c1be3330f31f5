package push

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/pushstatus"
)

// Transient traffic is what a node delivers to live sessions only, never
// stored and never versioned: pushes (job.KindPush, on the node's own
// stream), broadcasts (job.KindBroadcast, on the broadcast stream; see
// broadcast.go) and signals (job.KindSignal; see signal.go). A session that
// is not connected when one arrives simply misses it.

// Defaults of the transient settings in Config.
const (
	defaultSignalRate      = 10
	defaultSignalBurst     = 20
	defaultBroadcastMaxAge = 5 * time.Minute
)

// transient is a node's transient-delivery state: the broadcast reader, the
// signal relay and their counters.
type transient struct {
	bc  *broadcaster
	sig *signalRelay

	delivered *prometheus.CounterVec // kind
	dropped   *prometheus.CounterVec // kind, reason

	// encoded counts Push frames built for broadcasts: one per broadcast,
	// however many sessions it reaches.
	encoded atomic.Uint64

	counts *pushCounts // delivery status of the push API; see pushstatus.go
}

// Reasons a transient frame or job is dropped (label values of
// tether_push_transient_dropped_total).
const (
	dropExpired     = "expired"      // past its expiry or the broadcast age limit
	dropRateLimited = "rate_limited" // a session sent signals faster than allowed
	dropQueueFull   = "queue_full"   // the signal relay's queue was full
	dropRedis       = "redis"        // the relay could not reach Redis
	dropDegraded    = "degraded"     // signals turned off by the signals switch
	// signals only: the recipient blocked the sender, or the block mirror
	// could not tell (being rebuilt after Redis lost it)
	dropBlocked       = "blocked"
	dropBlocksUnknown = "blocks_unknown"
)

// newTransient applies the transient defaults to n.cfg, checks them and
// registers the counters.
func newTransient(n *Node) (*transient, error) {
	cfg := &n.cfg
	if cfg.SignalRate < 0 || cfg.SignalBurst < 0 || cfg.BroadcastMaxAge < 0 {
		return nil, errors.New("push: Config.SignalRate, SignalBurst and BroadcastMaxAge must not be negative")
	}
	if cfg.SignalRate == 0 {
		cfg.SignalRate = defaultSignalRate
	}
	if cfg.SignalBurst == 0 {
		cfg.SignalBurst = defaultSignalBurst
	}
	if cfg.SignalBurst > 1<<15 {
		return nil, fmt.Errorf("push: Config.SignalBurst %d is over %d", cfg.SignalBurst, 1<<15)
	}
	if cfg.BroadcastMaxAge == 0 {
		cfg.BroadcastMaxAge = defaultBroadcastMaxAge
	}
	labels := prometheus.Labels{"node": cfg.NodeID}
	t := &transient{
		counts: newPushCounts(),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "tether_push_transient_deliveries_total",
			Help:        "Transient frames (push, broadcast, signal) queued to live sessions.",
			ConstLabels: labels,
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "tether_push_transient_dropped_total",
			Help:        "Transient jobs or signals dropped undelivered, by reason.",
			ConstLabels: labels,
		}, []string{"kind", "reason"}),
	}
	if err := register(n.m, t.delivered); err != nil {
		return nil, err
	}
	if err := register(n.m, t.dropped); err != nil {
		return nil, err
	}
	t.bc = newBroadcaster(n)
	t.sig = newSignalRelay(n)
	return t, nil
}

func (t *transient) drop(kind job.Kind, reason string) {
	t.dropped.WithLabelValues(string(kind), reason).Inc()
}

// platformOK says whether a session on platform gets a job limited to platforms.
func platformOK(platforms []string, platform string) bool {
	return len(platforms) == 0 || slices.Contains(platforms, platform)
}

// pushPayload is the payload size of the Push frame for j.
func pushPayload(j job.Job) int { return 1 + len(j.PushID) + len(j.Body) }

// checkPush validates a push or broadcast job before it is encoded.
func checkPush(j job.Job) error {
	switch {
	case len(j.PushID) > 64:
		return errors.New("push: push id over 64 bytes")
	case pushPayload(j) > MaxServerPayload:
		return errors.New("push: push body over the frame limit")
	}
	return nil
}

// deliverPush writes a transient push to the targets' local sessions (each
// target's device if it names one, and only on j.Platforms if set). The
// frame is encoded once for all of them.
func (c *consumer) deliverPush(j job.Job, entry string) {
	n := c.n
	done := n.m.Begin(metrics.LayerJob, string(j.Kind), jobBudget, slog.String("entry", entry))
	if j.Expired(time.Now().UnixMilli()) {
		n.transient.drop(j.Kind, dropExpired)
		done(nil)
		return
	}
	if err := checkPush(j); err != nil {
		done(err)
		n.log.Warn("push: push job dropped", "job", j.ID, "entry", entry, "err", err)
		return
	}
	c.frame = wire.AppendPush(c.frame[:0], wire.Push{ID: j.PushID, Body: j.Body})
	sessions := 0
	for _, t := range j.Targets {
		c.targets = n.hub.appendSessions(c.targets[:0], t.UserID, t.DeviceID)
		for _, s := range c.targets {
			if platformOK(j.Platforms, s.sess.Platform) && s.enqueue(c.frame) {
				c.touched[s] = struct{}{}
				sessions++
			}
		}
	}
	clear(c.targets)
	n.transient.counts.add(j.PushID, pushstatus.Delivered, sessions)
	n.transient.delivered.WithLabelValues(string(job.KindPush)).Add(float64(sessions))
	done(nil)
	n.log.Debug("push: push delivered", "job", j.ID, "push", j.PushID, "entry", entry, "sessions", sessions)
}
