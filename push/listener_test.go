package push

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
)

// sockID is what a descriptor number names: the socket's inode.
func sockID(fd int) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// grabWhile opens sockets as fast as it can while busy is set, then checks
// that each of its numbers still names the socket it opened: a number
// closed by someone else (and perhaps reused) is counted as a victim.
func grabWhile(busy *atomic.Bool) (victims int) {
	type held struct {
		fd  int
		ino uint64
	}
	var hs []held
	for busy.Load() && len(hs) < 256 {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			break
		}
		ino, _ := sockID(fd)
		hs = append(hs, held{fd, ino})
	}
	for _, h := range hs {
		if ino, ok := sockID(h.fd); !ok || ino != h.ino {
			victims++
			continue // not ours any more: closing it would close someone else's
		}
		_ = syscall.Close(h.fd)
	}
	return victims
}

// closeVictims opens and closes listeners with open, rounds times, while
// another thread opens sockets, and returns how many of those sockets the
// closes closed.
func closeVictims(t *testing.T, rounds int, open func() (io.Closer, error)) int {
	t.Helper()
	victims := 0
	for range rounds {
		l, err := open()
		if err != nil {
			t.Fatal(err)
		}
		var busy atomic.Bool
		busy.Store(true)
		done := make(chan int)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			done <- grabWhile(&busy)
		}()
		runtime.Gosched()
		_ = l.Close()
		busy.Store(false)
		victims += <-done
	}
	return victims
}

// The cause of the churn failures (listener.go): netpoll's listener closes
// its number twice, and a socket opened in between by anyone else in the
// process is closed by the second close. A node's listener must close only
// its own descriptor. Without the fix (listenTCP returning
// netpoll.CreateListener's listener) this saw 37 of 2,000 rounds close a
// socket of the other thread, 124 with -race.
func TestListener_CloseNeverClosesAnotherOwnersSocket(t *testing.T) {
	if v := closeVictims(t, 2000, func() (io.Closer, error) { return listenTCP("127.0.0.1:0") }); v != 0 {
		t.Fatalf("closing the node's listeners closed %d sockets they did not own", v)
	}
}

// TestNetpollListener_StillClosesItsDescriptorTwice shows why nodes do not
// use netpoll's listener; run it after a netpoll upgrade
// (TETHER_NETPOLL_DOUBLE_CLOSE=1). If it fails, netpoll no longer closes
// another owner's socket and listener.go's workaround can go. It is opt-in
// because it measures a third-party bug, by chance.
func TestNetpollListener_StillClosesItsDescriptorTwice(t *testing.T) {
	if os.Getenv("TETHER_NETPOLL_DOUBLE_CLOSE") == "" {
		t.Skip("opt-in: TETHER_NETPOLL_DOUBLE_CLOSE=1")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if closeVictims(t, 500, func() (io.Closer, error) { return netpoll.CreateListener("tcp", "127.0.0.1:0") }) > 0 {
			return
		}
	}
	t.Fatal("netpoll's listener closed no other socket in 20 s: check whether netpoll fixed its double close (listener.go)")
}

func TestListener_AcceptsCloseOnExecNonBlockingSocketsAndStopsAfterClose(t *testing.T) {
	l, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := l.Accept(); c != nil || err != nil {
		t.Fatalf("accept with nobody waiting: %v, %v; want nil, nil", c, err)
	}
	cl, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c, err = l.Accept(); err != nil {
			t.Fatal(err)
		}
	}
	if c == nil {
		t.Fatal("no connection accepted")
	}
	fd := c.(interface{ Fd() int }).Fd()
	defer syscall.Close(fd)
	flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 || flags&syscall.FD_CLOEXEC == 0 {
		t.Fatalf("accepted socket is inherited by child processes (flags %#x, %v)", flags, e)
	}
	fl, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if e != 0 || fl&syscall.O_NONBLOCK == 0 {
		t.Fatalf("accepted socket blocks (flags %#x, %v)", fl, e)
	}
	if nd, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || nd == 0 {
		t.Fatalf("TCP_NODELAY off (%d, %v)", nd, err)
	}
	if got, want := c.RemoteAddr().String(), cl.LocalAddr().String(); got != want {
		t.Fatalf("remote address %s, want %s", got, want)
	}
	if err := c.Close(); err == nil {
		t.Fatal("the accepted value closed the socket netpoll owns")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Fd() != -1 {
		t.Fatalf("Fd after Close = %d, want -1", l.Fd())
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("accept after close succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
