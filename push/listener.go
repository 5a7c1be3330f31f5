package push

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// A node listens through sockListener, never through netpoll's own
// listener, because netpoll's (v0.7.2, also upstream) closes its descriptor
// twice: Close calls syscall.Close on the number and then closes the
// *os.File that owns that same number. Linux gives the next socket the
// lowest free number, so a socket opened by any goroutine of the process
// between the two closes is closed by the second one: a client's dial in
// the same process fails with EBADF, a connection just accepted by a node
// is closed under it (its client sees EOF or a reset, and netpoll later
// reads, writes and closes that number while someone else owns it). That
// was the "welcome: EOF" / reset / "dial tcp: bad file descriptor" seen by
// push tests that churn connections while other tests stop nodes
// (listener_test.go reproduces it). netpoll also accepts without
// SOCK_CLOEXEC, so a child process started meanwhile inherits client
// sockets and keeps them open.
//
// sockListener owns exactly one descriptor and closes it once; Accept and
// Close exclude each other, so an accept never runs on a number that was
// closed (and perhaps reused) meanwhile.
type sockListener struct {
	addr net.Addr

	mu sync.RWMutex // Accept holds it shared, Close exclusively
	fd int          // -1 once closed
}

// listenTCP binds addr and returns a listener that owns its socket.
func listenTCP(addr string) (*sockListener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ownListener(l)
}

// ownListener takes l's socket over: the returned listener keeps a
// close-on-exec, non-blocking duplicate of its descriptor, and l is closed.
func ownListener(l net.Listener) (*sockListener, error) {
	defer func() { _ = l.Close() }()
	sc, ok := l.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("push: listener %T has no descriptor", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("push: listener: dup: %w", derr)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("push: listener: %w", err)
	}
	return &sockListener{addr: l.Addr(), fd: fd}, nil
}

// dupCloexec duplicates fd with FD_CLOEXEC set atomically.
func dupCloexec(fd int) (int, error) {
	for {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// Accept returns the next connection, or nil and no error if none waits
// (netpoll's contract: the socket is non-blocking and polled by netpoll).
// The socket is close-on-exec, non-blocking and has TCP_NODELAY, as netpoll
// would set for its own.
func (l *sockListener) Accept() (net.Conn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.fd < 0 {
		return nil, net.ErrClosed // its text says "closed": netpoll's server then stops
	}
	for {
		fd, sa, err := syscall.Accept4(l.fd, syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK)
		switch {
		case err == syscall.EINTR || err == syscall.ECONNABORTED:
			continue // a client that gave up before the accept; try the next
		case err == syscall.EAGAIN:
			return nil, nil
		case err != nil:
			return nil, err // a syscall.Errno, so netpoll backs off on EMFILE
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		remote := sockaddrAddr(sa)
		if remote == nil {
			remote = &net.TCPAddr{}
		}
		return &sockConn{fd: fd, local: l.addr, remote: remote}, nil
	}
}

// Close closes the listening socket, once.
func (l *sockListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return nil
	}
	fd := l.fd
	l.fd = -1
	return syscall.Close(fd)
}

// Addr returns the bound address.
func (l *sockListener) Addr() net.Addr { return l.addr }

// Fd returns the listening descriptor, or -1 once closed, so that a caller
// holding on to it cannot reach a number reused since.
func (l *sockListener) Fd() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.fd
}

// sockConn is an accepted socket on its way into netpoll, which copies its
// descriptor and addresses and owns the socket from then on: sockConn
// itself never reads, writes or closes it.
type sockConn struct {
	fd            int
	local, remote net.Addr
}

func (s *sockConn) Fd() int                        { return s.fd }
func (s *sockConn) LocalAddr() net.Addr            { return s.local }
func (s *sockConn) RemoteAddr() net.Addr           { return s.remote }
func (*sockConn) Read([]byte) (int, error)         { return 0, errors.ErrUnsupported }
func (*sockConn) Write([]byte) (int, error)        { return 0, errors.ErrUnsupported }
func (*sockConn) Close() error                     { return errors.ErrUnsupported }
func (*sockConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (*sockConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (*sockConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }
