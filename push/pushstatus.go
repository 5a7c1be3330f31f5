package push

import (
	"context"
	"sync"

	"github.com/tetherim/tether/shared/pushstatus"
)

// Delivery status of the push API (api/pushapi): a node counts, per push
// id, the Push frames it queued to live sessions (delivered) and the
// PushAck frames clients sent back (acknowledged), and adds the counts to
// the pushes' status hashes in Redis with the ack flush (ackLoop): one
// round trip per AckFlushInterval however many frames, never one per frame.
// Pushes without a status hash (not from the push API, or expired) are
// skipped by Redis, so counting every push id costs nothing extra.

// maxPendingPushCounts bounds the counts held while Redis is unreachable;
// past it new counts are dropped (the status then under-reports).
const maxPendingPushCounts = 100_000

type pushCountKey struct {
	id string
	of pushstatus.Counter
}

// pushCounts collects counts between flushes. Safe for concurrent use.
type pushCounts struct {
	mu sync.Mutex
	m  map[pushCountKey]int64
}

func newPushCounts() *pushCounts { return &pushCounts{m: map[pushCountKey]int64{}} }

// add counts n frames of a push; an empty id or n <= 0 is ignored.
func (p *pushCounts) add(id string, of pushstatus.Counter, n int) {
	if id == "" || n <= 0 {
		return
	}
	k := pushCountKey{id, of}
	p.mu.Lock()
	if _, ok := p.m[k]; ok || len(p.m) < maxPendingPushCounts {
		p.m[k] += int64(n)
	}
	p.mu.Unlock()
}

func (p *pushCounts) take() map[pushCountKey]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) == 0 {
		return nil
	}
	m := p.m
	p.m = make(map[pushCountKey]int64, len(m))
	return m
}

func (p *pushCounts) putBack(m map[pushCountKey]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range m {
		if _, ok := p.m[k]; ok || len(p.m) < maxPendingPushCounts {
			p.m[k] += v
		}
	}
}

// flushPushCounts reports the counts in one round trip; a failed batch is
// kept for the next flush.
func (n *Node) flushPushCounts(ctx context.Context) {
	m := n.transient.counts.take()
	if m == nil {
		return
	}
	batch := make([]pushstatus.Count, 0, len(m))
	for k, v := range m {
		batch = append(batch, pushstatus.Count{PushID: k.id, Of: k.of, N: v})
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := n.status.Count(ctx, batch); err != nil {
		n.transient.counts.putBack(m)
		n.log.Debug("push: push status flush failed; kept for the next", "pushes", len(m), "err", err)
	}
}

// countBroadcasts counts, for each broadcast of a fan-out pass, the local
// sessions on its platforms, from the hub's per-platform session counts: a
// few atomic loads per broadcast instead of a walk over every session on
// the fan-out path. A session that closed during the pass is still counted.
func (n *Node) countBroadcasts(entries []encodedPush) {
	plat := &n.hub.plat
	var total int64
	for i := range plat.n {
		total += plat.n[i].Load()
	}
	for i := range entries {
		e := &entries[i]
		sent := total
		if len(e.platforms) > 0 {
			sent = 0
			var seen [len(platformCounts{}.n)]bool // a platform named twice counts once
			for _, p := range e.platforms {
				if k := platformIndex(p); !seen[k] {
					seen[k] = true
					sent += plat.n[k].Load()
				}
			}
		}
		n.transient.counts.add(e.pushID, pushstatus.Delivered, int(sent))
	}
}
