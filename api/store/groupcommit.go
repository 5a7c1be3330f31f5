package store

import (
	"context"
	"sync"
	"time"

	"github.com/tetherim/tether"
)

// Group commit: concurrent sends share one transaction. A send costs the
// database a dozen round trips, and each round trip costs both sides
// 50-95 µs of CPU, about the same as the work itself; a transaction of 16
// to 64 sends, each step one multi-row statement, costs a fraction of that
// per send (issue 13). A send waits in a queue; a leader takes what has
// queued after a short collection window and runs it as one transaction
// (sendBatch), and every send is answered only after that transaction
// committed. A send refused on its own (blocked, not a member, a duplicate
// client message id) is refused inside the transaction without failing the
// others; a transaction that fails as a whole is run again one send at a
// time, so one send's failure is never another's.

// Defaults of the group commit (WithGroupCommit).
const (
	DefaultCommitWindow  = 3 * time.Millisecond
	DefaultCommitBatch   = 64
	DefaultCommitLeaders = 2
)

// commitTimeout bounds one batch's transaction. It does not end with any
// one request's context: the batch is everyone's.
const commitTimeout = 30 * time.Second

// pendingSend is one send waiting for its batch.
type pendingSend struct {
	ctx     context.Context
	from    int64
	nm      tether.NewMessage
	content string           // validated, canonical
	done    chan sendOutcome // buffered: the leader never blocks on it
}

// sendOutcome answers one send.
type sendOutcome struct {
	msg     *tether.Message
	created bool
	err     error
}

// sendKey is a send's idempotency key.
type sendKey struct {
	sender      int64
	clientMsgID string
}

// committer queues sends and runs them in batches, at most leaders
// batches at a time (each on its own database connection).
type committer struct {
	run      func([]*pendingSend) // runs a batch and answers every send in it
	window   time.Duration
	maxBatch int
	leaders  int

	mu         sync.Mutex
	queue      []*pendingSend
	running    int           // leaders alive
	collecting bool          // one of them is waiting for its batch to fill
	full       chan struct{} // wakes the collecting leader when the queue holds a full batch
}

func newCommitter(run func([]*pendingSend), window time.Duration, maxBatch, leaders int) *committer {
	return &committer{run: run, window: window, maxBatch: maxBatch, leaders: leaders, full: make(chan struct{}, 1)}
}

// submit queues p and waits for its outcome, or for ctx to end (a send
// already in a running transaction may still commit then, as a send whose
// client went away always could).
func (c *committer) submit(ctx context.Context, p *pendingSend) sendOutcome {
	c.mu.Lock()
	c.queue = append(c.queue, p)
	lead := !c.collecting && c.running < c.leaders
	if lead {
		c.running++
		c.collecting = true
	}
	if len(c.queue) >= c.maxBatch {
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
	if lead {
		// The leader lives until the queue is empty; it is owned by the
		// sends it answers and holds nothing else.
		go c.lead()
	}
	select {
	case o := <-p.done:
		return o
	case <-ctx.Done():
		return sendOutcome{err: classifyOutage(ctx.Err())}
	}
}

// lead collects and runs batches while sends are queued and no other
// leader is collecting.
func (c *committer) lead() {
	timer := time.NewTimer(0)
	<-timer.C
	for {
		if c.window > 0 {
			timer.Reset(c.window)
			select {
			case <-timer.C:
			case <-c.full:
				if !timer.Stop() {
					<-timer.C
				}
			}
		}
		c.mu.Lock()
		batch := c.take()
		c.collecting = false
		// A full batch left sends behind: another leader collects them
		// while this one runs.
		more := len(c.queue) > 0 && c.running < c.leaders
		if more {
			c.running++
			c.collecting = true
		}
		c.mu.Unlock()
		if more {
			go c.lead()
		}
		if len(batch) > 0 {
			c.run(batch)
		}
		c.mu.Lock()
		if len(c.queue) == 0 || c.collecting {
			c.running--
			c.mu.Unlock()
			return
		}
		c.collecting = true
		c.mu.Unlock()
	}
}

// take removes the next batch from the queue, in arrival order: at most
// maxBatch sends, without those whose client gave up, and with at most one
// send per idempotency key (a second one, a retry racing the first, waits
// for the next batch, which finds the first committed). c.mu is held.
func (c *committer) take() []*pendingSend {
	var batch, rest []*pendingSend
	seen := make(map[sendKey]bool, min(len(c.queue), c.maxBatch))
	for _, p := range c.queue {
		k := sendKey{p.from, p.nm.ClientMsgID}
		switch {
		case len(batch) == c.maxBatch || seen[k]:
			rest = append(rest, p)
		case p.ctx.Err() != nil:
			p.done <- sendOutcome{err: classifyOutage(p.ctx.Err())}
		default:
			seen[k] = true
			batch = append(batch, p)
		}
	}
	c.queue = rest
	return batch
}

// queued is how many sends wait for a batch.
func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}
