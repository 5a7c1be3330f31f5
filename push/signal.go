package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/blockmirror"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/switches"
)

// Signals (typing indicators, "recording", read receipts a client wants
// live, ...) go client → its node → the recipient's nodes → recipient, and
// never touch MySQL. The sending node's relay checks, for a batch of
// signals at once, that no recipient blocked its sender (the block mirror in
// Redis, shared/blockmirror), then delivers to the recipients' sessions on
// itself straight from its hub and to other nodes through their job streams
// (job.KindSignal) after one batched registry lookup. A signal whose block
// check cannot be answered (Redis down, the mirror being rebuilt) is
// dropped: signals are best effort, and one must never reach a user who
// blocked its sender. A user may signal their own other devices (typing
// sync) without any check; the sending device never gets its own signal
// back.
//
// Per session, signals pass a token bucket (Config.SignalRate per second,
// Config.SignalBurst at once). A signal over the limit is dropped and
// counted. A session that keeps sending with an empty bucket (SignalBurst
// drops in a row, with no token regained in between) is abusive: it gets
// Error(rate_limited) and is closed.

const (
	// signalTTL: a signal older than this when it reaches the recipient's
	// node is dropped (after a Redis outage, "typing" is long over).
	signalTTL = 5 * time.Second
	// signalQueue bounds the signals waiting for the relay; more are dropped.
	signalQueue = 4096
	// signalBatch is the most signals relayed with one lookup and one pipeline.
	signalBatch = 256
	// maxSignalKind is the longest signal kind.
	maxSignalKind = 32
)

var (
	errSignalKind  = errors.New("push: signal kind must be 1-32 of a-z, 0-9, '_', '.', '-'")
	errSignalData  = errors.New("push: signal data over the limit")
	errSignalPeer  = errors.New("push: signal peer must be a user id")
	errRateLimited = errors.New("push: signals over the rate limit")
)

// checkSignal validates a signal's kind and data, from a client or a job,
// and returns the data as it is forwarded (wire.CanonicalSignalData).
func checkSignal(kind string, data []byte) ([]byte, error) {
	if len(kind) == 0 || len(kind) > maxSignalKind {
		return nil, errSignalKind
	}
	for i := 0; i < len(kind); i++ {
		switch ch := kind[i]; {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_', ch == '.', ch == '-':
		default:
			return nil, errSignalKind
		}
	}
	if len(data) > wire.MaxSignalData {
		return nil, errSignalData
	}
	data, err := wire.CanonicalSignalData(data)
	if err != nil {
		return nil, fmt.Errorf("push: signal data: %w", err)
	}
	return data, nil
}

// signalBucket is a session's signal token bucket. It is used only from the
// connection's frame handler, which netpoll runs one at a time per
// connection, so it needs no lock.
type signalBucket struct {
	last   int64   // unix ns of the last refill; 0 before the first signal
	tokens float32 // available signals
	drops  uint16  // signals dropped in a row
}

// allow refills the bucket for the time since the last call and takes a
// token if there is one.
func (b *signalBucket) allow(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		b.tokens = float32(burst)
	} else if now > b.last {
		b.tokens = min(float32(burst), b.tokens+float32(float64(now-b.last)/float64(time.Second)*rate))
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.drops = 0
		return true
	}
	if b.drops < 1<<15 {
		b.drops++
	}
	return false
}

// signal handles a client's Signal frame.
func (c *conn) signal(s wire.Signal) error {
	n := c.n
	data, err := checkSignal(s.Kind, s.Data)
	s.Data = data
	if err == nil && s.Peer <= 0 {
		err = errSignalPeer
	}
	if err != nil {
		c.fail(wire.CodeBadFrame, err.Error())
		return err
	}
	if !c.switchOn(switches.Signals) {
		// Degraded by the signals switch: dropped like any best-effort
		// signal, without an error, so clients need no new behaviour.
		n.transient.drop(job.KindSignal, dropDegraded)
		return nil
	}
	if !c.sig.allow(time.Now().UnixNano(), n.cfg.SignalRate, n.cfg.SignalBurst) {
		n.transient.drop(job.KindSignal, dropRateLimited)
		if int(c.sig.drops) >= n.cfg.SignalBurst {
			c.fail(wire.CodeRateLimited, "signals far over the rate limit")
			return errRateLimited
		}
		return nil
	}
	if s.Peer == c.uid {
		// Typing sync between one's own devices: nothing to check, so the
		// local ones get it at once.
		n.transient.sig.deliverLocal(c.uid, c.sess.DeviceID, s)
	}
	n.transient.sig.enqueue(outSignal{from: c.uid, device: c.sess.DeviceID, to: s.Peer, kind: s.Kind, data: append([]byte(nil), s.Data...)})
	return nil
}

// outSignal is a signal waiting for the relay.
type outSignal struct {
	from   int64
	device string // the sender's device, which does not get the signal
	to     int64
	kind   string
	data   []byte
}

// signalRelay checks signals against blocks and delivers them: locally, and
// to the recipients' other nodes.
type signalRelay struct {
	n      *Node
	q      chan outSignal
	blocks *blockmirror.Mirror

	unknownSince time.Time // when the block mirror was first found incomplete; zero if it is complete
}

func newSignalRelay(n *Node) *signalRelay {
	return &signalRelay{n: n, q: make(chan outSignal, signalQueue), blocks: blockmirror.New(n.rdb, n.reg.Keys().Prefix)}
}

// deliverLocal writes a signal to the recipient's sessions on this node.
func (r *signalRelay) deliverLocal(from int64, device string, s wire.Signal) {
	var fb [wire.HeaderSize + 8 + 1 + maxSignalKind + wire.MaxSignalData]byte
	var sb [8]*conn
	frame := wire.AppendSignal(fb[:0], wire.Signal{Peer: from, Kind: s.Kind, Data: s.Data})
	sessions := 0
	for _, t := range r.n.hub.appendSessions(sb[:0], s.Peer, "") {
		if s.Peer == from && t.sess.DeviceID == device {
			continue
		}
		if t.enqueue(frame) {
			t.kick()
			sessions++
		}
	}
	r.n.transient.delivered.WithLabelValues(string(job.KindSignal)).Add(float64(sessions))
}

// enqueue hands a signal to the relay, or drops it if the relay is behind.
func (r *signalRelay) enqueue(s outSignal) {
	select {
	case r.q <- s:
	default:
		r.n.transient.drop(job.KindSignal, dropQueueFull)
	}
}

// signalLoop runs the relay until ctx ends.
func (n *Node) signalLoop(ctx context.Context) { n.transient.sig.run(ctx) }

func (r *signalRelay) run(ctx context.Context) {
	batch := make([]outSignal, 0, signalBatch)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-r.q:
			batch = append(batch[:0], s)
		}
	more:
		for len(batch) < signalBatch {
			select {
			case s := <-r.q:
				batch = append(batch, s)
			default:
				break more
			}
		}
		failed, err := r.relay(ctx, batch)
		switch {
		case err != nil && ctx.Err() == nil:
			for range failed {
				r.n.transient.drop(job.KindSignal, dropRedis)
			}
			if !failing {
				failing = true
				r.n.log.Warn("push: signal relay failed; dropping signals between users and to other nodes", "err", err)
			}
		case err == nil && failing:
			failing = false
			r.n.log.Info("push: signal relay recovered")
		}
		clear(batch)
	}
}

// relay drops the signals of a batch whose recipient blocked the sender (one
// round trip for the batch), delivers the others to sessions on this node,
// looks up their recipients once and writes one job per signal and other
// node, all in one pipeline. On an error it returns the signals it failed
// to relay (the whole batch if the block check failed).
func (r *signalRelay) relay(ctx context.Context, batch []outSignal) (failed int, err error) {
	n := r.n
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	all := len(batch)
	batch, err = r.unblocked(rctx, batch)
	if err != nil {
		return all, err
	}
	for _, s := range batch {
		if s.to != s.from { // own devices here had it at once (conn.signal)
			r.deliverLocal(s.from, s.device, wire.Signal{Peer: s.to, Kind: s.kind, Data: s.data})
		}
	}
	if len(batch) == 0 {
		return 0, nil
	}
	uids := make([]int64, 0, len(batch))
	seen := make(map[int64]struct{}, len(batch))
	for _, s := range batch {
		if _, ok := seen[s.to]; !ok {
			seen[s.to] = struct{}{}
			uids = append(uids, s.to)
		}
	}
	done := n.m.Begin(metrics.LayerJob, "signal_relay", jobBudget)
	live, err := n.reg.Lookup(rctx, uids)
	if err != nil {
		done(err)
		return len(batch), err
	}
	now := time.Now().UnixMilli()
	var jobs []stream.NodeJob
	for _, s := range batch {
		j := job.Job{
			Kind:       job.KindSignal,
			Targets:    []job.Target{{UserID: s.to}},
			From:       s.from,
			Signal:     s.kind,
			EnqueuedMS: now,
			ExpiresMS:  now + signalTTL.Milliseconds(),
		}
		if len(s.data) > 0 {
			j.Body, _ = json.Marshal(s.data) // a base64 JSON string: data is opaque bytes
		}
		jobs = append(jobs, route.PlanByNode(j, live, func(uid int64, ss route.Session) bool {
			return ss.NodeID != n.cfg.NodeID && !(uid == s.from && ss.DeviceID == s.device)
		})...)
	}
	err = n.streams.Publish(rctx, jobs)
	done(err)
	if err != nil {
		return len(batch), err
	}
	return 0, nil
}

// unblocked returns the signals of batch (reusing it) whose recipient has not
// blocked the sender, and drops and counts the others. While the mirror is
// incomplete every signal between two users is dropped; an error drops the
// whole batch (the caller counts it).
func (r *signalRelay) unblocked(ctx context.Context, batch []outSignal) ([]outSignal, error) {
	pairs := make([]blockmirror.Pair, 0, len(batch))
	for _, s := range batch {
		if s.to != s.from {
			pairs = append(pairs, blockmirror.Pair{Blocker: s.to, Blocked: s.from})
		}
	}
	if len(pairs) == 0 {
		return batch, nil
	}
	done := r.n.m.Begin(metrics.LayerJob, "signal_blocks", jobBudget)
	blocked, err := r.blocks.Check(ctx, pairs)
	incomplete := errors.Is(err, blockmirror.ErrIncomplete)
	if err != nil && !incomplete {
		done(err)
		return nil, err
	}
	done(nil)
	r.noteMirror(incomplete)
	kept, i := batch[:0], 0
	for _, s := range batch {
		switch {
		case s.to == s.from:
			kept = append(kept, s)
			continue
		case incomplete:
			r.n.transient.drop(job.KindSignal, dropBlocksUnknown)
		case blocked[i]:
			r.n.transient.drop(job.KindSignal, dropBlocked)
		default:
			kept = append(kept, s)
		}
		i++
	}
	return kept, nil
}

// noteMirror logs when the block mirror becomes incomplete and complete
// again, once each.
func (r *signalRelay) noteMirror(incomplete bool) {
	switch {
	case incomplete && r.unknownSince.IsZero():
		r.unknownSince = time.Now()
		r.n.log.Warn("push: the mirror of blocks is incomplete (an API process rebuilds it); dropping signals between users meanwhile")
	case !incomplete && !r.unknownSince.IsZero():
		r.n.log.Info("push: the mirror of blocks is complete again; signals flow", "after", time.Since(r.unknownSince).Round(time.Millisecond))
		r.unknownSince = time.Time{}
	}
}

// deliverSignal writes a relayed signal to the targets' local sessions.
func (c *consumer) deliverSignal(j job.Job, entry string) {
	n := c.n
	done := n.m.Begin(metrics.LayerJob, string(j.Kind), jobBudget, slog.String("entry", entry))
	if j.Expired(time.Now().UnixMilli()) {
		n.transient.drop(job.KindSignal, dropExpired)
		done(nil)
		return
	}
	var data []byte
	var err error
	if len(j.Body) > 0 {
		err = json.Unmarshal(j.Body, &data)
	}
	if err == nil {
		data, err = checkSignal(j.Signal, data)
	}
	if err != nil {
		done(err)
		n.log.Warn("push: signal job dropped", "entry", entry, "err", err)
		return
	}
	c.frame = wire.AppendSignal(c.frame[:0], wire.Signal{Peer: j.From, Kind: j.Signal, Data: data})
	sessions := 0
	for _, t := range j.Targets {
		c.targets = n.hub.appendSessions(c.targets[:0], t.UserID, t.DeviceID)
		for _, s := range c.targets {
			if s.enqueue(c.frame) {
				c.touched[s] = struct{}{}
				sessions++
			}
		}
	}
	clear(c.targets)
	n.transient.delivered.WithLabelValues(string(job.KindSignal)).Add(float64(sessions))
	done(nil)
}
