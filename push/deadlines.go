package push

import (
	"sync"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// Handshake and idle deadlines are enforced by one sweeper per node rather
// than a timer per connection: a runtime timer with its closure and heap
// entry costs ~170 bytes a connection (4% of an idle connection's budget,
// docs/memory.md), while a sweep over all connections is a few loads each.
// A connection's deadline is its lastSeen (the accept, then the last whole
// frame) plus HandshakeTimeout before its Hello and IdleTimeout after it; a
// sweep closes the connections past theirs, at most one sweep interval
// late.

// Sweep interval bounds: the interval is an eighth of the shorter timeout,
// so a deadline is enforced within 12.5% of it.
const (
	minSweep = 5 * time.Millisecond
	maxSweep = time.Second
)

// sweeper owns the goroutine that enforces deadlines.
type sweeper struct {
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
	expired  []*conn // scratch, used by the sweeper goroutine only
}

// sweepInterval is how often a node with cfg sweeps.
func sweepInterval(cfg Config) time.Duration {
	return min(max(min(cfg.HandshakeTimeout, cfg.IdleTimeout)/8, minSweep), maxSweep)
}

// start runs the sweeper of n until stop.
func (s *sweeper) start(n *Node) {
	s.quit, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(sweepInterval(n.cfg))
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case now := <-t.C:
				s.sweep(n, now.UnixNano())
			}
		}
	}()
}

// stop ends the sweeper and waits for it; it is safe to call more than
// once and before start.
func (s *sweeper) stop() {
	s.stopOnce.Do(func() {
		if s.quit != nil {
			close(s.quit)
			<-s.done
		}
	})
}

// sweep closes every connection past its deadline. The connection table
// is only scanned under connMu; closing happens after, since it takes the
// connections' own locks.
func (s *sweeper) sweep(n *Node, now int64) {
	hs, idle := int64(n.cfg.HandshakeTimeout), int64(n.cfg.IdleTimeout)
	n.connMu.Lock()
	for c := range n.conns {
		limit := idle
		if c.state.Load() == stateHandshake {
			limit = hs
		}
		if now-c.lastSeen.Load() >= limit {
			s.expired = append(s.expired, c)
		}
	}
	n.connMu.Unlock()
	for i, c := range s.expired {
		c.expire(now)
		s.expired[i] = nil
	}
	s.expired = s.expired[:0]
}

// expire closes c for its missed deadline, re-checked now that the sweep
// let go of the table: a frame may have arrived meanwhile.
func (c *conn) expire(now int64) {
	code, limit, text := wire.CodeIdleTimeout, c.n.cfg.IdleTimeout, "nothing received in time"
	if c.state.Load() == stateHandshake {
		code, limit, text = wire.CodeHandshakeTimeout, c.n.cfg.HandshakeTimeout, "no hello in time"
	}
	if now-c.lastSeen.Load() >= int64(limit) {
		c.fail(code, text)
	}
}
