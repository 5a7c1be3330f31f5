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

// Adopting a socket from another process goes through netpoll's ordinary
// accept path, so the connection gets its addresses (netpoll's timeout
// errors print them), the node's write timeout, OnPrepare and OnRequest,
// exactly like an accepted one: adoptListener "accepts" the handed-over
// descriptors, and onPrepare picks up each one's session state.

// adoptListener is a netpoll.Listener whose Accept returns queued sockets.
// Its descriptor is the read end of a socket pair that is readable while
// sockets wait, which is how the poller learns that there is work.
type adoptListener struct {
	rfd, wfd int

	mu      sync.Mutex
	queue   []*adoptConn
	pending map[int]*adoptConn // fd -> state, until onPrepare takes it
}

// adoptConn is one handed-over socket; it implements netpoll.Conn for the
// accept path only (netpoll copies its descriptor and addresses).
type adoptConn struct {
	fd            int
	local, remote net.Addr
	st            handoff.ConnState
}

func newAdoptListener() (*adoptListener, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("push: adoption socket pair: %w", err)
	}
	return &adoptListener{rfd: fds[0], wfd: fds[1], pending: map[int]*adoptConn{}}, nil
}

// push queues fd with its state for adoption.
func (l *adoptListener) push(fd int, st handoff.ConnState) {
	a := &adoptConn{fd: fd, st: st}
	if sa, err := syscall.Getsockname(fd); err == nil {
		a.local = sockaddrAddr(sa)
	}
	if sa, err := syscall.Getpeername(fd); err == nil {
		a.remote = sockaddrAddr(sa)
	}
	if a.local == nil {
		a.local = &net.TCPAddr{}
	}
	if a.remote == nil {
		a.remote = &net.TCPAddr{}
	}
	l.mu.Lock()
	l.queue = append(l.queue, a)
	l.pending[fd] = a
	l.mu.Unlock()
	_, _ = syscall.Write(l.wfd, []byte{1})
}

// take returns the state of fd being accepted, once.
func (l *adoptListener) take(fd int) (handoff.ConnState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.pending[fd]
	if !ok {
		return handoff.ConnState{}, false
	}
	delete(l.pending, fd)
	return a.st, true
}

func (l *adoptListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		var b [64]byte
		for {
			if n, err := syscall.Read(l.rfd, b[:]); n <= 0 || err != nil {
				break
			}
		}
		if len(l.queue) == 0 {
			return nil, nil
		}
	}
	a := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return a, nil
}

func (l *adoptListener) Close() error {
	_ = syscall.Close(l.wfd)
	return syscall.Close(l.rfd)
}

func (l *adoptListener) Addr() net.Addr { return &net.UnixAddr{Name: "adopt", Net: "unix"} }
func (l *adoptListener) Fd() int        { return l.rfd }

func (a *adoptConn) Fd() int                          { return a.fd }
func (a *adoptConn) LocalAddr() net.Addr              { return a.local }
func (a *adoptConn) RemoteAddr() net.Addr             { return a.remote }
func (a *adoptConn) Read(b []byte) (int, error)       { return syscall.Read(a.fd, b) }
func (a *adoptConn) Write(b []byte) (int, error)      { return syscall.Write(a.fd, b) }
func (a *adoptConn) Close() error                     { return syscall.Close(a.fd) }
func (a *adoptConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (a *adoptConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (a *adoptConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }

func sockaddrAddr(sa syscall.Sockaddr) net.Addr {
	switch s := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(s.Addr[:]).To16(), Port: s.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(s.Addr[:]), Port: s.Port}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: s.Name, Net: "unix"}
	}
	return nil
}

// startAdoption creates the event loop that adopts sockets, once.
func (n *Node) startAdoption() error {
	if n.up.adopt != nil {
		return nil
	}
	l, err := newAdoptListener()
	if err != nil {
		return err
	}
	evl, err := n.newEventLoop()
	if err != nil {
		_ = l.Close()
		return err
	}
	n.up.adopt, n.up.adoptEvl, n.up.adoptDone = l, evl, make(chan struct{})
	go func() {
		defer close(n.up.adoptDone)
		_ = evl.Serve(l)
	}()
	return nil
}

// stopAdoption ends the adoption event loop; its connections are closed or
// handed over by then.
func (n *Node) stopAdoption() {
	if n.up.adoptEvl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	shutdownLoop(ctx, n.up.adoptEvl, n.up.adoptDone)
	cancel()
}

// adopted is onPrepare's hook: if nc is a handed-over socket, it becomes a
// connection with its old id and session and adopted returns its context.
func (n *Node) adopted(nc netpoll.Connection) (context.Context, bool) {
	if n.up.adopt == nil {
		return nil, false
	}
	fdc, ok := nc.(interface{ Fd() int })
	if !ok {
		return nil, false
	}
	st, ok := n.up.adopt.take(fdc.Fd())
	if !ok {
		return nil, false
	}
	return n.prepareAdopted(nc, st), true
}
