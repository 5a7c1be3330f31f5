package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
)

// Hot restart, old side: a node listens on Config.UpgradeSocket; a new
// process of the same node (Config.Takeover, see takeover.go) connects and
// receives the listeners and every live connection with its session state
// (handoff.go has the protocol). Clients notice nothing: their sockets stay
// open and nothing they sent or were sent is lost.
//
// Order of events in the old process:
//  1. hello: versions and node ids must match, else nothing happens.
//  2. commit: the listeners stop accepting (the kernel queues new
//     connections for the new process), the stream consumer and the other
//     loops stop after finishing their batch, so every delivery is in some
//     connection's queue.
//  3. each connection stops writing (after its current write), is detached
//     from netpoll without closing the socket, and its unread input and
//     unwritten output travel with its descriptor, in batches.
//  4. unflushed acks travel last; once the new process says done, this one
//     closes its copies of the descriptors and retires without touching
//     Redis: routes name the node id, which does not change.
//
// If the new process fails before step 2, this one is untouched. If it
// fails later, this one adopts the connections it still holds again,
// restarts its loops and keeps serving.

// upgrader is a node's hot-restart state.
type upgrader struct {
	mu       sync.Mutex // one handoff at a time
	sock     *net.UnixListener
	sockDone chan struct{}
	paused   atomic.Bool // the listeners accept nothing: a handoff committed
	retired  atomic.Bool // the node was handed over
	shared   []sharedListener
	inherit  map[string]*os.File // takeover: listeners received by name
	handedCh chan struct{}       // closed when retired
	conn     *handoffConn        // takeover: the conversation with the old process

	adopt     *adoptListener // sockets being adopted (adopt.go)
	adoptEvl  netpoll.EventLoop
	adoptDone chan struct{}
}

type sharedListener struct {
	name string
	file *os.File
}

// pausableListener stops accepting while a handoff is under way: Accept
// then reports nothing to accept and the connection stays in the kernel's
// queue, where the new process, which shares the socket, accepts it.
type pausableListener struct {
	netpoll.Listener
	paused *atomic.Bool
}

func (l *pausableListener) Accept() (net.Conn, error) {
	if l.paused.Load() {
		// Yields the poller; the other process accepts it right away.
		time.Sleep(time.Millisecond)
		return nil, nil
	}
	return l.Listener.Accept()
}

// listen creates the client listener, or receives it from the old process
// when taking over.
func (n *Node) listen(ctx context.Context) (netpoll.Listener, error) {
	var ln netpoll.Listener
	var err error
	if n.cfg.Takeover {
		ln, err = n.takeListeners(ctx)
	} else {
		ln, err = netpoll.CreateListener("tcp", n.cfg.TCPAddr)
	}
	if err != nil {
		return nil, err
	}
	return &pausableListener{Listener: ln, paused: &n.up.paused}, nil
}

// listenShared creates a listener of the node's own, or takes the one named
// name over from the old process.
func (n *Node) listenShared(name, addr string) (netpoll.Listener, error) {
	var ln netpoll.Listener
	if f := n.up.inherit[name]; f != nil {
		delete(n.up.inherit, name)
		nl, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		if ln, err = netpoll.ConvertListener(nl); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ln, err = netpoll.CreateListener("tcp", addr); err != nil {
			return nil, err
		}
	}
	return &pausableListener{Listener: ln, paused: &n.up.paused}, nil
}

// ShareListener hands l over with the node in a hot restart under name;
// the new process gets it back from InheritedListener. Call it before the
// upgrade starts, e.g. for the admin HTTP listener.
func (n *Node) ShareListener(name string, l net.Listener) error {
	fl, ok := l.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("push: listener %q cannot be shared (%T)", name, l)
	}
	f, err := fl.File()
	if err != nil {
		return fmt.Errorf("push: share listener %q: %w", name, err)
	}
	n.up.mu.Lock()
	n.up.shared = append(n.up.shared, sharedListener{name: name, file: f})
	n.up.mu.Unlock()
	return nil
}

// HandedOver is closed once the node was handed over to a new process by a
// hot restart; the old process should then exit (Stop returns at once).
func (n *Node) HandedOver() <-chan struct{} { return n.up.handedCh }

// serveUpgrades listens on Config.UpgradeSocket for a new process that
// takes the node over.
func (n *Node) serveUpgrades() error {
	path := n.cfg.UpgradeSocket
	if path == "" {
		return nil
	}
	// A previous process's socket file (it is never unlinked on handoff, so
	// that its successor keeps the name) is replaced.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("push: upgrade socket %s: %w", path, err)
	}
	old := syscall.Umask(0o177) // only this user may take the node over
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("push: upgrade socket %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false)
	n.up.sock, n.up.sockDone = ul, make(chan struct{})
	go func() {
		defer close(n.up.sockDone)
		for {
			uc, err := ul.AcceptUnix()
			if err != nil {
				return // closed by Stop or after a handoff
			}
			if err := n.handOff(uc); errors.Is(err, io.EOF) {
				// A peer that leaves before its hello, e.g. `tether push
				// --upgrade` learning this process's pid: nothing began.
				n.log.Debug("push: upgrade socket: peer left before its hello")
			} else if err != nil {
				n.log.Error("push: hot restart failed; this process keeps serving", "err", err)
			}
			_ = uc.Close()
			if n.up.retired.Load() {
				return
			}
		}
	}()
	return nil
}

// closeUpgrades stops listening for upgrades. The socket file goes too
// unless the node was handed over: then it is the new process's.
func (n *Node) closeUpgrades() {
	if n.up.sock != nil {
		_ = n.up.sock.Close()
		<-n.up.sockDone
		if !n.up.retired.Load() {
			_ = os.Remove(n.cfg.UpgradeSocket)
		}
	}
}

// Upgrade starts a new process with start (it must run this node with
// Config.Takeover) and waits until it has taken the node over, it exits,
// or ctx ends (then it is killed). On error this node keeps serving and
// can be upgraded again.
func (n *Node) Upgrade(ctx context.Context, start func() (*os.Process, error)) error {
	if n.cfg.UpgradeSocket == "" {
		return errors.New("push: hot restart needs Config.UpgradeSocket")
	}
	if n.up.retired.Load() {
		return errors.New("push: node already handed over")
	}
	p, err := start()
	if err != nil {
		return fmt.Errorf("push: start new process: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil {
			err = fmt.Errorf("new process exited: %s", st)
		}
		exited <- err
	}()
	n.log.Info("push: hot restart: new process started", "pid", p.Pid)
	select {
	case <-n.up.handedCh:
		return nil
	case err := <-exited:
		select {
		case <-n.up.handedCh: // it took over, then exited on its own
			return nil
		default:
		}
		return fmt.Errorf("push: hot restart: %w", err)
	case <-ctx.Done():
		_ = p.Kill()
		<-exited
		select {
		case <-n.up.handedCh:
			return nil
		default:
		}
		return fmt.Errorf("push: hot restart: the new process did not take over in time: %w", ctx.Err())
	}
}

// movedConn is a connection detached for a handoff; O keeps fd until done.
type movedConn struct {
	c  *conn
	fd int
	st connState
}

// handOff runs the old side of one handoff on uc.
func (n *Node) handOff(uc *net.UnixConn) error {
	n.up.mu.Lock()
	defer n.up.mu.Unlock()
	if n.stopping.Load() || n.closingDown() {
		return errors.New("push: node is stopping")
	}
	if err := checkPeer(uc); err != nil {
		return err
	}
	deadline := time.Now().Add(n.cfg.UpgradeTimeout)
	_ = uc.SetDeadline(deadline)
	hc := &handoffConn{uc: uc}
	peer, err := hc.exchangeHello(n.cfg.NodeID, os.Getpid(), false)
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
	lst := []listenerState{{Name: "tcp", Addr: n.ln.Addr().String()}}
	fds := []int{n.ln.Fd()}
	if n.ws.ln != nil {
		lst = append(lst, listenerState{Name: "ws", Addr: n.ws.addr.String()})
		fds = append(fds, n.ws.ln.Fd())
	}
	for _, s := range n.up.shared {
		lst = append(lst, listenerState{Name: s.name})
		fds = append(fds, int(s.file.Fd()))
	}
	if err := hc.send(msgListeners, lst, fds); err != nil {
		return fail(err)
	}
	for {
		batch := n.detachBatch(barrier, handoffBatch)
		if len(batch) == 0 {
			break
		}
		moved = append(moved, batch...)
		sts := make([]connState, len(batch))
		bfds := make([]int, len(batch))
		for i, m := range batch {
			sts[i], bfds[i] = m.st, m.fd
			queued += len(m.st.Out)
			unread += len(m.st.In)
		}
		if err := hc.send(msgConns, sts, bfds); err != nil {
			return fail(err)
		}
	}
	end := handoffEnd{}
	for k, v := range n.acks.take() {
		end.Acks = append(end.Acks, ackOf(k, v))
	}
	if err := hc.send(msgEnd, end, nil); err != nil {
		n.acks.putBack(ackMap(end.Acks))
		return fail(err)
	}
	kind, rfds, err := hc.recv(func(byte) any { return nil })
	closeFDs(rfds)
	if err == nil && kind != msgDone {
		err = fmt.Errorf("push: handoff: expected done, got message %d", kind)
	}
	if err != nil {
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

// checkPeer accepts only a process of the same user.
func checkPeer(uc *net.UnixConn) error {
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("push: upgrade socket peer: %w", cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("push: upgrade socket peer runs as uid %d, not %d; refused", cred.Uid, os.Getuid())
	}
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
func (n *Node) captureState(c *conn, in []byte, wasOpen bool) connState {
	st := connState{
		ID:     c.id,
		Remote: c.remote,
		Open:   c.state.Load() == stateOpen,
		In:     in,
	}
	if st.Open {
		st.UID, st.Session, st.OpenedMS, st.AppVersion = c.uid, c.sess, c.openedMS, c.app.Value()
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
	n.restartLoops()
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
