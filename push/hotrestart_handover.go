package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/internal/handoff"
)

// Hot restart, old side (hotrestart.go has the overview): handOff commits
// to one handoff, detaches every connection with its state and sends it to
// the new process; recover takes the connections back if that process
// fails, retire ends this process's part once it succeeded.

// movedConn is a connection detached for a handoff; O keeps fd until done.
type movedConn struct {
	c  *conn
	fd int
	st handoff.ConnState
}

// handOff runs the old side of one handoff on uc.
func (n *Node) handOff(uc *net.UnixConn) error {
	n.up.mu.Lock()
	defer n.up.mu.Unlock()
	if n.stopping.Load() || n.closingDown() {
		return errors.New("push: node is stopping")
	}
	hc, peer, err := handoff.Accept(uc, handoff.Me(n.cfg.NodeID), n.cfg.UpgradeTimeout)
	if err != nil {
		return err
	}
	start := time.Now()
	n.log.Info("push: hot restart: handing over", "pid", peer.PID, "sessions", n.hub.count())

	barrier, err := newPollBarrier()
	if err != nil {
		return err
	}
	defer barrier.close()

	// Commit. From here a failure means taking the connections back.
	n.up.paused.Store(true)
	if err := barrier.pass(); err != nil { // an accept under way has reached onPrepare
		n.up.paused.Store(false)
		return err
	}
	n.loopCancel()
	n.loops.Wait()

	var moved []*movedConn
	var queued, unread int
	fail := func(err error) error {
		n.recover(moved)
		return err
	}
	lst := []handoff.ListenerState{{Name: "tcp", Addr: n.ln.Addr().String()}}
	fds := []int{n.ln.Fd()}
	if n.ws.ln != nil {
		lst = append(lst, handoff.ListenerState{Name: "ws", Addr: n.ws.addr.String()})
		fds = append(fds, n.ws.ln.Fd())
	}
	for _, s := range n.up.shared {
		lst = append(lst, handoff.ListenerState{Name: s.name})
		fds = append(fds, int(s.file.Fd()))
	}
	if err := hc.SendListeners(lst, fds); err != nil {
		return fail(err)
	}
	for {
		batch := n.detachBatch(barrier, handoff.Batch)
		if len(batch) == 0 {
			break
		}
		moved = append(moved, batch...)
		sts := make([]handoff.ConnState, len(batch))
		bfds := make([]int, len(batch))
		for i, m := range batch {
			sts[i], bfds[i] = m.st, m.fd
			queued += len(m.st.Out)
			unread += len(m.st.In)
		}
		if err := hc.SendConns(sts, bfds); err != nil {
			return fail(err)
		}
	}
	end := handoff.End{}
	for k, v := range n.acks.take() {
		end.Acks = append(end.Acks, ackOf(k, v))
	}
	if err := hc.SendEnd(end); err != nil {
		n.acks.putBack(ackMap(end.Acks))
		return fail(err)
	}
	if err := hc.WaitDone(); err != nil {
		// The new process may have adopted some connections already; it
		// failed, so they are taken back here.
		n.acks.putBack(ackMap(end.Acks))
		return fail(err)
	}
	for _, m := range moved {
		_ = syscall.Close(m.fd)
	}
	n.retire()
	n.log.Info("push: hot restart: handed over", "pid", peer.PID, "connections", len(moved),
		"queued_bytes", queued, "unread_bytes", unread, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// detachBatch detaches up to max live connections, several at a time.
func (n *Node) detachBatch(b *pollBarrier, max int) []*movedConn {
	var cs []*conn
	n.connMu.Lock()
	for c := range n.conns {
		if len(cs) == max {
			break
		}
		cs = append(cs, c)
	}
	n.connMu.Unlock()
	out := make([]*movedConn, len(cs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = n.detach(c, b)
		}()
	}
	wg.Wait()
	kept := out[:0]
	for _, m := range out {
		if m != nil {
			kept = append(kept, m)
		}
	}
	// A connection that closed meanwhile is gone from n.conns; the others
	// were removed by onClosed as well, so the next batch moves on.
	return kept
}

// detach stops c's output after its current write, detaches it from
// netpoll and captures its state. nil means c closed meanwhile.
func (n *Node) detach(c *conn, b *pollBarrier) *movedConn {
	c.mu.Lock()
	c.hold = true // flushLoop stops after its current write
	c.mu.Unlock()
	for {
		c.mu.Lock()
		busy, gone := c.flushing, c.gone
		c.mu.Unlock()
		if gone {
			n.forget(c)
			return nil
		}
		if !busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wasOpen := c.state.Load() == stateOpen
	captured := make(chan struct{})
	m := &movedConn{c: c, fd: -1}
	_ = c.nc.AddCloseCallback(func(nc netpoll.Connection) error {
		// netpoll runs this after it removed the socket from its poller and
		// any OnRequest has returned, before it frees the input buffer.
		defer close(captured)
		if err := b.pass(); err != nil {
			n.log.Warn("push: hot restart: barrier", "conn", c.id, "err", err)
		}
		r := nc.Reader()
		var in []byte
		if k := r.Len(); k > 0 {
			if p, err := r.Next(k); err == nil {
				in = append(in, p...)
			}
		}
		m.fd = nc.(interface{ Fd() int }).Fd()
		m.st = n.captureState(c, in, wasOpen)
		return nil
	})
	d, ok := c.nc.(interface{ Detach() error })
	if !ok {
		n.log.Error("push: hot restart: connection cannot be detached", "type", fmt.Sprintf("%T", c.nc))
		return nil
	}
	_ = d.Detach()
	for {
		select {
		case <-captured:
			return m
		case <-time.After(time.Millisecond):
		}
		c.mu.Lock()
		gone := c.gone
		c.mu.Unlock()
		if gone {
			select {
			case <-captured:
				return m
			default:
				n.forget(c) // closed by the peer before the detach
				return nil
			}
		}
	}
}

// forget drops a connection that closed during a handoff from n.conns.
func (n *Node) forget(c *conn) {
	n.connMu.Lock()
	delete(n.conns, c)
	n.connMu.Unlock()
}

// captureState records c's session for the new process and marks it moved,
// so that onClosed, which runs next, keeps its route.
func (n *Node) captureState(c *conn, in []byte, wasOpen bool) handoff.ConnState {
	st := handoff.ConnState{
		ID:     c.id,
		Remote: c.remote,
		Open:   c.state.Load() == stateOpen,
		In:     in,
	}
	if st.Open {
		st.UID, st.Session, st.OpenedMS, st.AppVersion, st.Proto = c.uid, c.sess, c.openedMS, c.app.Value(), c.proto
	}
	n.pending.mu.Lock()
	ps, pending := n.pending.set[c]
	n.pending.mu.Unlock()
	st.Pending, st.Told, st.Rewrite = pending, ps.told, ps.rewrite
	c.wmu.Lock()
	c.wclosed = true
	st.WS = saveWS(c.ws)
	c.wmu.Unlock()
	c.mu.Lock()
	c.moved = true
	st.Registered = c.registered
	st.Closing = c.closing
	st.Out = append([]byte(nil), c.buf...)
	c.buf = nil
	c.mu.Unlock()
	_ = wasOpen
	return st
}

// recover takes back the connections of a failed handoff and restarts the
// node's loops: the node goes on as if nothing happened.
func (n *Node) recover(moved []*movedConn) {
	for _, m := range moved {
		if err := n.adopt(m.fd, m.st); err != nil {
			n.log.Error("push: hot restart: connection lost taking it back", "conn", m.st.ID, "err", err)
			_ = syscall.Close(m.fd)
		}
	}
	n.startLoops(context.Background())
	n.up.paused.Store(false)
	n.log.Warn("push: hot restart aborted; connections taken back", "connections", len(moved))
}

// retire ends this process's part after a handoff: nothing is closed or
// deregistered, since the sockets and routes now belong to the new process.
func (n *Node) retire() {
	n.up.retired.Store(true)
	n.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	shutdownLoop(sctx, n.evl, n.serveDone) // no connections are left in it
	n.stopWS(sctx)
	n.stopAdoption()
	n.tasks.Wait()
	n.ackCancel() // the batch is empty: it travelled with the handoff
	<-n.ackDone
	for _, s := range n.up.shared {
		_ = s.file.Close()
	}
	if n.up.sock != nil {
		_ = n.up.sock.Close()
	}
	close(n.up.handedCh)
}
