package push

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/stream"
)

// streamBlock is how long one read waits for new entries; it bounds how
// long Stop waits for the readers.
const streamBlock = time.Second

// consumer delivers the jobs of this node's stream to local sessions. The
// stream's Reader (shared/stream) reads them, pending entries of an earlier
// run first, and acks each batch only after handle returned, so delivery is
// at least once; clients drop versions they already have.
type consumer struct {
	n       *Node
	touched map[*conn]struct{} // sessions written in the current batch
	targets []*conn            // scratch for hub lookups
	frame   []byte             // scratch for one encoded Message frame
}

// consume runs the consumer until ctx ends.
func (n *Node) consume(ctx context.Context) {
	if n.consumeGate != nil {
		select {
		case <-n.consumeGate:
		case <-ctx.Done():
			return
		}
	}
	c := &consumer{n: n, touched: map[*conn]struct{}{}}
	r := &stream.Reader{
		Source: nodeStream{n.streams.NodeSource(n.cfg.NodeID), n}, Handle: c.handle,
		Batch: n.cfg.StreamBatch, Block: streamBlock, Timeout: redisTimeout, Log: n.log,
	}
	r.Run(ctx)
}

// nodeStream is the node's own stream, whose lost group is recovered by a
// heartbeat: Redis lost the stream or group (a restart without
// persistence), so it lost the node key and the routes too. The heartbeat
// recreates the group with the key, and since it finds the key missing, the
// routes are rewritten; the heartbeat loop, running later, would find the
// key there again and never rewrite them.
type nodeStream struct {
	stream.Source
	n *Node
}

func (s nodeStream) Recover(ctx context.Context, _ string) error {
	lost, err := s.n.heartbeat(ctx)
	if err == nil && lost {
		s.n.reregister(true)
	}
	return err
}

// handle delivers a batch: frames are queued per session, then each touched
// session is written once for the whole batch.
func (c *consumer) handle(entries []stream.Entry) {
	clear(c.touched)
	for _, e := range entries {
		c.deliver(e)
	}
	for s := range c.touched {
		s.flushNow() // written from here unless the socket is full (conn_write.go)
	}
	clear(c.touched)
}

// deliver handles one entry. A poisoned entry is counted as an error and
// acked with the batch, so it never blocks the entries behind it.
func (c *consumer) deliver(m stream.Entry) {
	n := c.n
	j, err := m.Job, m.Err
	if err != nil {
		// The label is fixed: a poisoned kind must not mint new series.
		n.m.Observe(metrics.LayerJob, "invalid", 0, err, 0)
		n.log.Warn("push: poisoned job dropped", "entry", m.ID, "err", err)
		return
	}
	switch j.Kind {
	case job.KindPush:
		c.deliverPush(j, m.ID)
		return
	case job.KindSignal:
		c.deliverSignal(j, m.ID)
		return
	case job.KindKick:
		n.kickJob(j, m.ID) // see kick.go
		return
	case job.KindDrain, job.KindHotRestart:
		n.controlJob(j, m.ID) // see control.go
		return
	case job.KindBroadcast:
		// Broadcasts belong on the broadcast stream (broadcast.go).
		n.m.Observe(metrics.LayerJob, "invalid", 0, errors.New("broadcast job on a node stream"), 0)
		n.log.Warn("push: broadcast job on a node stream dropped", "entry", m.ID)
		return
	}
	done := n.m.Begin(metrics.LayerJob, string(j.Kind), jobBudget, slog.String("entry", m.ID))
	var jobErr error
	sessions := 0
	for _, t := range j.Targets {
		if t.Version == 0 || wire.MessageSize(len(j.Body))-wire.HeaderSize > MaxServerPayload {
			jobErr = errors.New("push: target without version or body over the frame limit")
			continue
		}
		c.targets = n.hub.appendSessions(c.targets[:0], t.UserID, t.DeviceID)
		if len(c.targets) == 0 {
			continue // the user left this node; it syncs on reconnect
		}
		c.frame = wire.AppendMessage(c.frame[:0], t.Version, j.Body)
		for _, s := range c.targets {
			if s.enqueue(c.frame) {
				c.touched[s] = struct{}{}
				sessions++
			}
		}
	}
	clear(c.targets)
	n.transient.counts.add(j.PushID, pushstatus.Delivered, sessions) // persisted pushes of the push API; pushstatus.go
	done(jobErr)
	if jobErr != nil {
		n.log.Warn("push: job partly dropped", "job", j.ID, "entry", m.ID, "err", jobErr)
	}
	n.log.Debug("push: job delivered", "job", j.ID, "entry", m.ID, "sessions", sessions)
}
