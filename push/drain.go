package push

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/route"
)

// Graceful drain (what a node does on SIGTERM):
//
//  1. It stops accepting: the listening socket is shut down, so new
//     connections are refused and go to other nodes.
//  2. It stops its registry heartbeat and deletes its node key at once, so
//     relays stop routing new jobs here (they trust a route only while its
//     node key lives). Handshakes still in flight are refused with
//     Close(shutting_down).
//  3. It sends every session a Reconnect frame. The sends are spread, in
//     random order, over min(window, sessions/DrainRate), so the other nodes
//     see a steady trickle of handshakes and syncs rather than a storm.
//     Clients close on receipt, reconnect elsewhere after a small random
//     delay (at most the frame's window) and sync.
//  4. Meanwhile the consumer keeps delivering the entries already in the
//     node's stream to the sessions still here, and each leaving session's
//     route is removed.
//  5. When every client has left, or the window ends, the node stops: the
//     consumer acks its last batch, the remaining connections get
//     Close(shutting_down), acks are flushed.
//
// Nothing is lost: a job routed here while a client was moving is either
// delivered before it leaves or fetched by the client's sync on its next node.

const (
	defaultDrainWindow = 30 * time.Second
	defaultDrainRate   = 1000
	// reconnectJitter bounds the delay a client adds after a Reconnect frame;
	// the node's own spreading does the rest.
	reconnectJitter = time.Second
	// drainShare is the part of the time left on Drain's context that the
	// Reconnect phase may use; the rest is kept for the final Stop.
	drainShare = 0.75
)

// ErrDraining is returned by Drain when the node is already draining or stopping.
var ErrDraining = errors.New("push: node already draining or stopped")

// closingDown reports whether the node accepts no new sessions.
func (n *Node) closingDown() bool { return n.draining.Load() || n.stopping.Load() }

// Draining reports whether the node has begun to drain or stop: it accepts
// no new connections, so it is not ready for traffic.
func (n *Node) Draining() bool { return n.closingDown() }

// Drain empties the node gracefully and then stops it (see the comment at the
// top of drain.go). window bounds the Reconnect phase; zero means
// Config.DrainWindow. If ctx has a deadline, the phase is shortened to fit in
// drainShare of the time left, so that Stop still has time to finish. Drain
// returns once the node has stopped; the error is Stop's.
func (n *Node) Drain(ctx context.Context, window time.Duration) error {
	if !n.started.Load() {
		return errors.New("push: node not started")
	}
	if n.stopping.Load() || !n.draining.CompareAndSwap(false, true) {
		return ErrDraining
	}
	start := time.Now()
	if window <= 0 {
		window = n.cfg.DrainWindow
	}
	if dl, ok := ctx.Deadline(); ok {
		window = min(window, time.Duration(float64(time.Until(dl))*drainShare))
	}
	end := start.Add(window)

	n.stopAccepting()
	n.hbCancel()
	<-n.hbDone
	n.publishState(ctx, route.StateDraining) // control.go
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	if err := n.reg.Deregister(dctx, n.cfg.NodeID); err != nil {
		n.log.Warn("push: drain: deregister failed; the node key expires with its TTL", "err", err)
	}
	cancel()

	conns := n.snapshotConns()
	spread := n.drainSpread(len(conns), window)
	n.log.Info("push: draining", "connections", len(conns), "spread", spread, "window", window)
	n.sendReconnects(ctx, conns, spread, end)

	left := n.waitConnsUntil(ctx, end)
	n.log.Info("push: drain done; stopping", "remaining", left, "took", time.Since(start).Round(time.Millisecond))
	if err := n.Stop(ctx); err != nil {
		return fmt.Errorf("push: drain: %w", err)
	}
	return nil
}

// drainSpread is how long the Reconnect sends to count connections take:
// as long as DrainRate needs, but no longer than window.
func (n *Node) drainSpread(count int, window time.Duration) time.Duration {
	need := time.Duration(float64(count) / float64(n.cfg.DrainRate) * float64(time.Second))
	return min(need, time.Duration(float64(window)*drainShare))
}

// stopAccepting shuts the listening sockets (TCP and WebSocket) down for
// reading. Linux then refuses new connections and wakes the poller, which
// detaches the listener and ends its Serve; live connections are untouched.
// The descriptors themselves are closed by Stop's event loop shutdown
// (closing them here as well would close them twice).
func (n *Node) stopAccepting() {
	for _, ln := range []netpoll.Listener{n.ln, n.ws.ln} {
		if ln == nil {
			continue
		}
		if err := syscall.Shutdown(ln.Fd(), syscall.SHUT_RD); err != nil {
			n.log.Warn("push: drain: listener shutdown failed; new connections are refused at the handshake",
				"addr", ln.Addr().String(), "err", err)
		}
	}
}

// sendReconnects asks each open session to reconnect, at random moments
// spread over spread, in random order. Connections still in their
// handshake get Close(shutting_down) at once: nothing but Error or Close may
// precede a Welcome.
func (n *Node) sendReconnects(ctx context.Context, conns []*conn, spread time.Duration, end time.Time) {
	open := conns[:0:0]
	for _, c := range conns {
		if c.state.Load() == stateOpen {
			open = append(open, c)
		} else {
			c.closeWith(wire.TypeClose, wire.CodeShuttingDown, "node shutting down")
		}
	}
	if len(open) == 0 {
		return
	}
	// Uniform random send times, sorted: jitter with a bounded rate.
	at := make([]time.Duration, len(open))
	for i := range at {
		at[i] = time.Duration(rand.Int64N(int64(spread) + 1))
	}
	slices.Sort(at)
	rand.Shuffle(len(open), func(i, j int) { open[i], open[j] = open[j], open[i] })
	start := time.Now()
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for i, c := range open {
		if d := at[i] - time.Since(start); d > time.Millisecond {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		c.reconnect(min(reconnectJitter, max(time.Until(end), 0)))
	}
}

// reconnect queues a Reconnect frame telling the client to reconnect
// within jitter.
func (c *conn) reconnect(jitter time.Duration) {
	var b [wire.HeaderSize + 4]byte
	if c.enqueue(wire.AppendReconnect(b[:0], uint32(jitter/time.Millisecond))) {
		c.kick()
	}
}

// waitConnsUntil waits until every connection has closed, end passes or ctx
// ends, and returns how many connections remain.
func (n *Node) waitConnsUntil(ctx context.Context, end time.Time) int {
	wctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	n.waitConns(wctx)
	n.connMu.Lock()
	defer n.connMu.Unlock()
	return len(n.conns)
}
