package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Listen listens on the upgrade socket at path, for the old side. A
// previous process's socket file is replaced: it is never unlinked on a
// handoff, so that its successor keeps the name. Only this user may
// connect.
func Listen(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("handoff: socket %s: %w", path, err)
	}
	old := syscall.Umask(0o177)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("handoff: socket %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false)
	return ul, nil
}

// Accept is the old side's start on uc, a connection accepted from
// Listen's socket: it refuses a process of another user, then exchanges
// hellos with the new process; timeout bounds the whole handoff. io.EOF
// means the peer left before its hello (e.g. Owner): nothing began.
func Accept(uc *net.UnixConn, me Hello, timeout time.Duration) (*Conn, Hello, error) {
	cred, err := peerCred(uc)
	if err != nil {
		return nil, Hello{}, err
	}
	if int(cred.Uid) != os.Getuid() {
		return nil, Hello{}, fmt.Errorf("handoff: socket peer runs as uid %d, not %d; refused", cred.Uid, os.Getuid())
	}
	_ = uc.SetDeadline(time.Now().Add(timeout))
	c := &Conn{uc: uc}
	peer, err := c.answerHello(me)
	if err != nil {
		return nil, peer, err
	}
	return c, peer, nil
}

// Dial is the new side's start: it connects to the old process at path
// and exchanges hellos; timeout bounds the whole handoff. An error wraps
// ErrRefused if the old process refused this one.
func Dial(ctx context.Context, path string, me Hello, timeout time.Duration) (*Conn, Hello, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, Hello{}, fmt.Errorf("handoff: no running node to take over at %s: %w", path, err)
	}
	uc := nc.(*net.UnixConn)
	_ = uc.SetDeadline(time.Now().Add(timeout))
	c := &Conn{uc: uc}
	peer, err := c.offerHello(me)
	if err != nil {
		_ = uc.Close()
		return nil, peer, err
	}
	return c, peer, nil
}

// Owner returns the pid of the process listening on the upgrade socket at
// path (the kernel records it at listen; SO_PEERCRED reads it). It hangs
// up before any hello, which the owner ignores.
func Owner(path string) (int, error) {
	nc, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	cred, err := peerCred(nc.(*net.UnixConn))
	if err != nil {
		return 0, err
	}
	return int(cred.Pid), nil
}

// peerCred returns the credentials of the process at uc's other end.
func peerCred(uc *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("handoff: socket peer: %w", cerr)
	}
	return cred, nil
}
