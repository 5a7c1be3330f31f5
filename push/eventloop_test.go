package push

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
)

// A Serve that installs its server only after Shutdown was first called (the
// node's Serve goroutine had not run yet when Stop came) must still end.
// With a single Shutdown call this hangs: netpoll's Shutdown is a no-op then.
func TestShutdownLoop_EndsAServeThatStartedAfterShutdown(t *testing.T) {
	evl, err := netpoll.NewEventLoop(func(context.Context, netpoll.Connection) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := netpoll.CreateListener("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go func() { shutdownLoop(ctx, evl, done); close(stopped) }()
	time.Sleep(50 * time.Millisecond) // Shutdown has run with no server yet
	go func() { _ = evl.Serve(ln); close(done) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("a Serve that started after Shutdown never returned")
	}
}

// A node stopped right after it started stops, every time.
func TestStop_RightAfterStartNeverHangs(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 20; i++ {
		n := e.newNode()
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stopped <- n.Stop(ctx)
		}()
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("stop %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("stop %d hung", i)
		}
	}
}
