package push

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
)

// streamBlock is how long one XREADGROUP waits for new entries; it bounds
// how long Stop waits for the consumer.
const streamBlock = time.Second

// consumer reads this node's job stream and delivers jobs to local sessions.
// Entries are acked only after they were handled, so a crash or a Redis
// error leaves them pending; after a restart or an error the consumer first
// re-reads its pending entries (ID "0") and then new ones (">"). Delivery is
// therefore at least once; clients drop versions they already have.
type consumer struct {
	n       *Node
	stream  string
	touched map[*conn]struct{} // sessions written in the current batch
	targets []*conn            // scratch for hub lookups
	frame   []byte             // scratch for one encoded Message frame
	ids     []string           // entry ids handled in the current batch
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
	c := &consumer{n: n, stream: n.reg.Keys().Stream(n.cfg.NodeID), touched: map[*conn]struct{}{}}
	c.run(ctx)
}

func (c *consumer) run(ctx context.Context) {
	n := c.n
	start := "0"
	var delay time.Duration
	failing := false
	for ctx.Err() == nil {
		args := &redis.XReadGroupArgs{
			Group:    route.Group,
			Consumer: n.cfg.NodeID,
			Streams:  []string{c.stream, start},
			Count:    int64(n.cfg.StreamBatch),
			Block:    -1, // reading pending entries never blocks
		}
		if start == ">" {
			args.Block = streamBlock
		}
		res, err := n.rdb.XReadGroup(ctx, args).Result()
		if errors.Is(err, redis.Nil) {
			continue // BLOCK timed out with nothing new
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				failing = true
				n.log.Warn("push: stream read failed; retrying", "stream", c.stream, "err", err)
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				// Redis lost the stream or group (restart without
				// persistence): the heartbeat recreates both. It writes
				// the node key too, so it is also where the loss of the
				// routes shows: the heartbeat loop would find the key
				// there again and never rewrite them.
				hctx, cancel := context.WithTimeout(ctx, redisTimeout)
				if lost, err := n.heartbeat(hctx); err == nil && lost {
					n.reregister(true)
				}
				cancel()
			}
			delay = backoff(delay)
			start = "0"
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		if failing {
			failing = false
			n.log.Info("push: stream read recovered", "stream", c.stream)
		}
		delay = 0
		var msgs []redis.XMessage
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) == 0 {
			if start != ">" {
				start = ">" // pending entries drained
			}
			continue
		}
		c.handle(msgs)
		if err := c.ack(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The entries stay pending and are re-read from "0": delivered
			// again, which clients tolerate, but never lost.
			n.log.Warn("push: stream ack failed; entries will be re-read", "count", len(c.ids), "err", err)
			delay = backoff(delay)
			start = "0"
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		if start != ">" {
			start = msgs[len(msgs)-1].ID
		}
	}
}

// handle delivers a batch: frames are queued per session, then each touched
// session is written once for the whole batch.
func (c *consumer) handle(msgs []redis.XMessage) {
	c.ids = c.ids[:0]
	clear(c.touched)
	for _, m := range msgs {
		c.ids = append(c.ids, m.ID)
		c.deliver(m)
	}
	for s := range c.touched {
		s.flushNow() // written from here unless the socket is full (conn_write.go)
	}
	clear(c.touched)
}

// deliver handles one entry. A poisoned entry is counted as an error and
// acked with the batch, so it never blocks the entries behind it.
func (c *consumer) deliver(m redis.XMessage) {
	n := c.n
	raw, _ := m.Values[job.Field].(string)
	j, err := job.Decode([]byte(raw))
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
	case job.KindBroadcast:
		// Broadcasts belong on the broadcast stream (broadcast.go).
		n.m.Observe(metrics.LayerJob, "invalid", 0, errors.New("broadcast job on a node stream"), 0)
		n.log.Warn("push: broadcast job on a node stream dropped", "entry", m.ID)
		return
	}
	done := n.m.Begin(metrics.LayerJob, string(j.Kind), jobBudget)
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
	n.transient.counts.add(j.PushID, route.PushDelivered, sessions) // persisted pushes of the push API; pushstatus.go
	done(jobErr)
	if jobErr != nil {
		n.log.Warn("push: job partly dropped", "job", j.ID, "entry", m.ID, "err", jobErr)
	}
	n.log.Debug("push: job delivered", "job", j.ID, "entry", m.ID, "sessions", sessions)
}

// ack acknowledges the batch's entries in one XACK. It runs even while the
// node stops, so handled entries are not delivered again after a restart.
func (c *consumer) ack(ctx context.Context) error {
	if len(c.ids) == 0 {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	return c.n.rdb.XAck(actx, c.stream, route.Group, c.ids...).Err()
}
