package push

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/stream"
)

// Broadcasts travel on one Redis stream that every node reads with a
// consumer group named after itself (see shared/stream/source_redis.go for
// the group's lifecycle). Each broadcast is encoded once into a Push frame and
// the frame's bytes are queued to every matching local session; every
// session is flushed once per batch of broadcasts.
//
// What a node delivers:
//   - A new node (no group yet) starts at the stream's end: broadcasts sent
//     before it existed were for the sessions live then, on other nodes.
//   - A node that restarts or is upgraded under the same id resumes where its
//     group stopped, so a restart or a Redis outage loses nothing, but it
//     never delivers a broadcast past the job's ExpiresMS or older than
//     Config.BroadcastMaxAge (by EnqueuedMS). Clients dedupe by push id.
//   - A clean Stop destroys the group, so the next start is a new node.

const (
	// broadcastBudget is the time budget of one fan-out pass, which may
	// touch every session of the node.
	broadcastBudget = 250 * time.Millisecond
	// broadcastChunk bounds the encoded frames held for one fan-out pass;
	// a batch holding more is fanned out in several passes.
	broadcastChunk = 4 << 20
	// Sweeping the groups of crashed nodes: how often (with jitter) and how
	// many groups at most per sweep.
	sweepEvery = time.Minute
	sweepLimit = 16
)

// broadcaster reads the broadcast stream for one node. Its scratch buffers
// are owned by the goroutine running run.
type broadcaster struct {
	n *Node

	sweepIdle time.Duration // a dead node's group is swept once its consumers are idle this long

	arena   []byte        // the encoded Push frames of the current pass, back to back
	entries []encodedPush // where each frame of the pass is in arena
	scratch [][]*conn     // per fan-out writer: one hub shard's sessions
}

// encodedPush is one broadcast ready to queue.
type encodedPush struct {
	off, end  int
	platforms []string
	pushID    string // for the delivery status (pushstatus.go)
}

func newBroadcaster(n *Node) *broadcaster {
	return &broadcaster{
		n:         n,
		sweepIdle: max(4*n.cfg.NodeTTL, time.Minute),
		scratch:   make([][]*conn, fanOutWriters()),
	}
}

// fanOutWriters is how many goroutines write one fan-out pass: one per
// processor, since a pass is almost all write system calls (one per
// session) and each writer takes its own hub shards.
func fanOutWriters() int {
	return min(max(runtime.GOMAXPROCS(0), 1), hubShards)
}

// leaveBroadcast destroys the node's broadcast group on a clean stop. A hot
// restart does not stop the old process this way, so the new process
// resumes from the group.
func (n *Node) leaveBroadcast(ctx context.Context) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	if err := n.streams.LeaveBroadcast(lctx, n.cfg.NodeID); err != nil {
		n.log.Warn("push: broadcast group not removed; a live node sweeps it later", "err", err)
	}
}

// broadcastLoop runs the broadcaster until ctx ends.
func (n *Node) broadcastLoop(ctx context.Context) {
	if n.consumeGate != nil {
		select {
		case <-n.consumeGate:
		case <-ctx.Done():
			return
		}
	}
	n.transient.bc.run(ctx)
}

// run reads the broadcast stream with the stream's Reader (shared/stream):
// pending entries of an earlier run first, each batch acked after it was
// fanned out, and a lost group rejoined after the last entry read, so
// nothing sent meanwhile is skipped. Unacked entries are read again: a
// duplicate push, which clients drop by its id.
func (b *broadcaster) run(ctx context.Context) {
	n := b.n
	nextSweep := time.Now().Add(jitter(sweepEvery))
	sweep := func(ctx context.Context) { // now and then, with jitter
		if time.Now().After(nextSweep) {
			b.sweep(ctx)
			nextSweep = time.Now().Add(jitter(sweepEvery))
		}
	}
	r := &stream.Reader{
		Source: n.streams.BroadcastSource(n.cfg.NodeID), Handle: b.handle, BeforeRead: sweep,
		Batch: n.cfg.StreamBatch, Block: streamBlock, Timeout: redisTimeout, Log: n.log,
	}
	r.Run(ctx)
}

// handle encodes each live broadcast of a batch once and fans them out.
func (b *broadcaster) handle(msgs []stream.Entry) {
	n := b.n
	now := time.Now()
	b.arena, b.entries = b.arena[:0], b.entries[:0]
	for _, m := range msgs {
		j, err := m.Job, m.Err
		if err == nil && j.Kind != job.KindBroadcast {
			err = errors.New("push: " + string(j.Kind) + " job on the broadcast stream")
		}
		if err == nil {
			err = checkPush(j)
		}
		if err != nil {
			n.m.Observe(metrics.LayerJob, "invalid", 0, err, 0)
			n.log.Warn("push: poisoned broadcast dropped", "entry", m.ID, "err", err)
			continue
		}
		if j.Expired(now.UnixMilli()) || (j.EnqueuedMS > 0 && now.Sub(time.UnixMilli(j.EnqueuedMS)) > n.cfg.BroadcastMaxAge) {
			n.transient.drop(job.KindBroadcast, dropExpired)
			n.log.Debug("push: expired broadcast skipped", "job", j.ID, "entry", m.ID)
			continue
		}
		off := len(b.arena)
		b.arena = wire.AppendPush(b.arena, wire.Push{ID: j.PushID, Body: j.Body})
		n.transient.encoded.Add(1)
		b.entries = append(b.entries, encodedPush{off: off, end: len(b.arena), platforms: j.Platforms, pushID: j.PushID})
		if len(b.arena) >= broadcastChunk {
			b.fanOut()
		}
	}
	b.fanOut()
	if cap(b.arena) > 2*broadcastChunk {
		b.arena = nil // one huge batch must not pin its memory
	}
}

// fanOut writes the encoded broadcasts of the pass to every matching local
// session: the fanOutWriters take the hub's shards one at a time, the next
// one not taken yet, so a writer whose thread the OS holds up delays one
// shard's sessions, not a fixed share of them (and no lock is held while
// writing). A session that all broadcasts of the pass match gets them in
// one write straight from the arena; the others get theirs queued, then
// one write.
func (b *broadcaster) fanOut() {
	if len(b.entries) == 0 {
		return
	}
	n := b.n
	done := n.m.Begin(metrics.LayerJob, string(job.KindBroadcast), broadcastBudget)
	var sessions int
	var next atomic.Int32 // the next shard to take
	if writers := len(b.scratch); writers == 1 {
		sessions = b.fanShards(0, &next)
	} else {
		var wg sync.WaitGroup
		counts := make([]int, writers)
		for w := range writers {
			wg.Go(func() { counts[w] = b.fanShards(w, &next) })
		}
		wg.Wait()
		for _, k := range counts {
			sessions += k
		}
	}
	n.transient.delivered.WithLabelValues(string(job.KindBroadcast)).Add(float64(sessions))
	n.countBroadcasts(b.entries) // pushstatus.go
	done(nil)
	n.log.Debug("push: broadcasts delivered", "broadcasts", len(b.entries), "deliveries", sessions)
	b.arena, b.entries = b.arena[:0], b.entries[:0]
}

// fanShards delivers the pass to the sessions of the hub shards it takes
// from next until none are left and returns the deliveries (one per
// broadcast and session). It only reads the pass (arena, entries) and uses
// scratch[w].
func (b *broadcaster) fanShards(w int, next *atomic.Int32) int {
	h := b.n.hub
	all := b.arena[b.entries[0].off:b.entries[len(b.entries)-1].end]
	// A pass too big for one session's queue is queued frame by frame,
	// which starts writing early (enqueue) instead of overflowing.
	whole := len(all) <= b.n.cfg.MaxQueued/2
	deliveries := 0
	for i := int(next.Add(1)) - 1; i < len(h.shards); i = int(next.Add(1)) - 1 {
		sh := &h.shards[i]
		scratch := b.scratch[w]
		sh.mu.RLock()
		for _, list := range sh.users {
			scratch = append(scratch, list...)
		}
		sh.mu.RUnlock()
		for _, c := range scratch {
			matched := 0
			for k := range b.entries {
				if platformOK(b.entries[k].platforms, c.sess.Platform) {
					matched++
				}
			}
			switch {
			case matched == 0:
			case matched == len(b.entries) && whole:
				if c.send(all) {
					deliveries += matched
				}
			default:
				queued := 0
				for k := range b.entries {
					e := &b.entries[k]
					if !platformOK(e.platforms, c.sess.Platform) {
						continue
					}
					if !c.enqueue(b.arena[e.off:e.end]) {
						break // closing, or just closed as a slow consumer
					}
					queued++
				}
				if queued > 0 {
					c.flushNow()
				}
				deliveries += queued
			}
		}
		clear(scratch)
		b.scratch[w] = scratch[:0]
	}
	return deliveries
}

// sweep removes a few broadcast groups of crashed nodes.
func (b *broadcaster) sweep(ctx context.Context) {
	n := b.n
	sctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	removed, err := n.streams.SweepBroadcastGroups(sctx, b.sweepIdle, sweepLimit, n.reg.NodesAlive)
	if err != nil {
		n.log.Debug("push: broadcast group sweep failed", "err", err)
	}
	if len(removed) > 0 {
		n.log.Info("push: swept broadcast groups of dead nodes", "nodes", removed)
	}
}

// jitter returns d ± 25%, so nodes started together do not sweep together.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
