package push

import (
	"context"
	"sync"
	"time"

	"github.com/tetherim/tether/shared/route"
)

type ackKey struct {
	uid    int64
	device string
}

// ackBatch collects cumulative acks between flushes. It keeps only the
// highest version per device, so its size is bounded by the devices seen
// since the last successful flush, however often they ack.
type ackBatch struct {
	mu sync.Mutex
	m  map[ackKey]uint64
}

func newAckBatch() *ackBatch { return &ackBatch{m: map[ackKey]uint64{}} }

// record notes that a device has everything up to v.
func (a *ackBatch) record(uid int64, device string, v uint64) {
	k := ackKey{uid, device}
	a.mu.Lock()
	if v > a.m[k] {
		a.m[k] = v
	}
	a.mu.Unlock()
}

// take empties the batch and returns it.
func (a *ackBatch) take() map[ackKey]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.m) == 0 {
		return nil
	}
	m := a.m
	a.m = make(map[ackKey]uint64, len(m))
	return m
}

// putBack merges a batch that failed to flush.
func (a *ackBatch) putBack(m map[ackKey]uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range m {
		if v > a.m[k] {
			a.m[k] = v
		}
	}
}

// flushAcks writes the batch through Registry.RecordAcks, which never lets
// a device's ack move backwards. A failed batch is kept for the next try.
func (n *Node) flushAcks(ctx context.Context) error {
	m := n.acks.take()
	if m == nil {
		return nil
	}
	batch := make([]route.Ack, 0, len(m))
	for k, v := range m {
		batch = append(batch, route.Ack{UserID: k.uid, DeviceID: k.device, Version: v})
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := n.reg.RecordAcks(ctx, batch); err != nil {
		n.acks.putBack(m)
		return err
	}
	return nil
}

// ackLoop flushes acks every AckFlushInterval, and once more when ctx ends.
func (n *Node) ackLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.AckFlushInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			if err := n.flushAcks(context.WithoutCancel(ctx)); err != nil {
				n.log.Warn("push: final ack flush failed; acks lost", "err", err)
			}
			n.flushPushCounts(context.WithoutCancel(ctx))
			return
		case <-t.C:
		}
		n.flushPushCounts(ctx) // push API delivery status; see pushstatus.go
		err := n.flushAcks(ctx)
		switch {
		case err != nil && !failing:
			failing = true
			n.log.Warn("push: ack flush failed; retrying", "err", err)
		case err == nil && failing:
			failing = false
			n.log.Info("push: ack flush recovered")
		}
	}
}
