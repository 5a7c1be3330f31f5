package push

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
)

// The last cause of the churn drill's failed handshakes (churn_test.go),
// in -race builds only: netpoll's race build finds an event's connection by
// descriptor number, so a connection closed after epoll_wait had reported
// its hang-up, whose number the next accept in the same batch reused, had
// that hang-up applied to the new connection, which was closed before its
// client's first frame was read ("welcome: EOF", or a reset). The patched
// copy in third_party/netpoll drops such an event (see its README).

// hookListener runs a hook, once, on the poller goroutine the next time
// netpoll asks the listener for a connection: in the middle of the
// poller's batch of events.
type hookListener struct {
	*sockListener
	before atomic.Pointer[func()]
}

func (l *hookListener) Accept() (net.Conn, error) {
	if f := l.before.Swap(nil); f != nil {
		(*f)()
	}
	return l.sockListener.Accept()
}

func (l *hookListener) hook(f func()) { l.before.Store(&f) }

// TestStaleEvent_ANewConnectionOnAReusedNumberIsNotHungUpByTheOldOnesEvent
// lines the race up: the poller is held inside a batch while a's client
// resets and b connects, so the next batch reports the listener first and
// a's hang-up after it; just before that batch accepts b, a's server side
// is closed, so b gets a's number. b must still echo what it sends. Without
// the patch it fails on the first attempt of every -race run; a build
// without -race keeps pointers in events and never failed it.
func TestStaleEvent_ANewConnectionOnAReusedNumberIsNotHungUpByTheOldOnesEvent(t *testing.T) {
	raw, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &hookListener{sockListener: raw}
	var (
		mu    sync.Mutex
		conns = map[string]netpoll.Connection{} // server side, by client address
	)
	evl, err := netpoll.NewEventLoop(func(_ context.Context, nc netpoll.Connection) error {
		r := nc.Reader()
		b, _ := r.Next(r.Len())
		out := append([]byte(nil), b...)
		_ = r.Release()
		_, err := nc.Write(out) // echo
		return err
	}, netpoll.WithOnPrepare(func(nc netpoll.Connection) context.Context {
		mu.Lock()
		conns[nc.RemoteAddr().String()] = nc
		mu.Unlock()
		return context.Background()
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = evl.Serve(ln)
	}()
	defer shutdownLoop(context.Background(), evl, done)
	addr := raw.Addr().String()

	server := func(c net.Conn) netpoll.Connection {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			nc := conns[c.LocalAddr().String()]
			mu.Unlock()
			if nc != nil {
				return nc
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("no server side for %s", c.LocalAddr())
		return nil
	}
	dial := func() *net.TCPConn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.TCPConn)
	}

	reused := 0
	for attempt := 0; attempt < 20 && reused < 3; attempt++ {
		// A: an open connection whose client is about to vanish.
		a := dial()
		sa := server(a)
		fdA := sa.(interface{ Fd() int }).Fd()

		// Hold the poller inside a batch (in the accept of d) while a's
		// client resets (its hangup is queued behind the listener's
		// readiness) and b connects.
		entered, release := make(chan struct{}), make(chan struct{})
		ln.hook(func() { close(entered); <-release })
		d := dial()
		<-entered
		b := dial()
		_ = a.SetLinger(0)
		_ = a.Close()
		// In the next batch the listener's event comes first: just before
		// it accepts b, a's server side is closed, so b gets a's number
		// while a's hang-up, reported in the same batch, is still to come.
		ln.hook(func() { _ = sa.Close() })
		close(release)
		sb := server(b)
		onA := sb.(interface{ Fd() int }).Fd() == fdA
		if onA {
			reused++
		}

		// b must work: what it sends comes back.
		_ = b.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := b.Write([]byte("ping")); err != nil {
			t.Fatalf("attempt %d (b on a's number: %v): write: %v", attempt, onA, err)
		}
		got := make([]byte, 4)
		if _, err := b.Read(got); err != nil || string(got) != "ping" {
			t.Fatalf("attempt %d (b on a's number: %v): echo %q, %v: the new connection was hung up by the old one's event",
				attempt, onA, got, err)
		}
		_ = b.Close()
		_ = d.Close()
	}
	if reused == 0 {
		// Another goroutine of the process freed a lower number each time.
		t.Fatal("b never got a's descriptor number: the test did not set up the race")
	}
	t.Logf("b got a's number in %d attempts", reused)
}
