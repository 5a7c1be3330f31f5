package push

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

// drainAsync runs Drain in the background and returns its result channel.
func drainAsync(n *Node, timeout, window time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- n.Drain(ctx, window)
	}()
	return done
}

// expectReconnect reads frames until a Reconnect arrives and returns its window.
func (c *tclient) expectReconnect() time.Duration {
	c.t.Helper()
	for {
		f := c.read()
		switch f.Type {
		case wire.TypeReconnect:
			return time.Duration(f.Window) * time.Millisecond
		case wire.TypePong, wire.TypeMessage:
		default:
			c.t.Fatalf("got %s %v while waiting for reconnect", f.Type, f.Reason)
		}
	}
}

func TestDrain_TellsEveryClientToReconnectDeregistersAndStopsOnceTheyLeft(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.DrainRate = 100000 }).on(tr)
		n := e.start()
		ctx := context.Background()
		const clients = 20
		cs := make([]*tclient, clients)
		for i := range cs {
			cs[i], _ = e.connect(int64(100+i), "d")
		}
		nodeKey := e.reg.Keys().Node(e.cfg.NodeID)
		if e.rdb.Exists(ctx, nodeKey).Val() != 1 {
			t.Fatal("node key missing before drain")
		}
		// A generous window: Drain must finish as soon as the clients
		// left, not when the window ends.
		done := drainAsync(n, time.Minute, 40*time.Second)

		for i, c := range cs {
			w := c.expectReconnect()
			if w <= 0 || w > reconnectJitter {
				t.Fatalf("client %d: reconnect window %s", i, w)
			}
		}
		// Every client has its Reconnect and none has left: the node key
		// is already gone, so relays route nothing new here, and both
		// listeners refuse new connections.
		if e.rdb.Exists(ctx, nodeKey).Val() != 0 {
			t.Fatal("node key still registered during drain")
		}
		for _, addr := range []string{n.TCPAddr().String(), n.WSAddr().String()} {
			if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				nc.Close()
				t.Fatalf("listener %s still accepts during drain", addr)
			}
		}
		if n.Sessions() != clients {
			t.Fatalf("sessions = %d before clients left", n.Sessions())
		}
		for _, c := range cs {
			c.send(wire.AppendClose(nil, wire.CodeNormal, "moving"))
			c.expectClosed()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("drain: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("drain still waiting after every client left")
		}
		if n.Sessions() != 0 {
			t.Fatalf("sessions = %d after drain", n.Sessions())
		}
		for i := range cs {
			if l := e.rdb.HLen(ctx, e.reg.Keys().Route(int64(100+i))).Val(); l != 0 {
				t.Fatalf("user %d still has %d routes", 100+i, l)
			}
		}
		if err := n.Stop(ctx); err == nil {
			t.Fatal("Stop after Drain succeeded; want already stopped")
		}
	})
}

func TestDrain_SpreadsReconnectsOverTimeInsteadOfAllAtOnce(t *testing.T) {
	t.Parallel()
	// 20 sessions at 20 reconnects/s: the sends are spread over about a
	// second; all 20 landing within 200ms of each other would take a
	// vanishingly unlikely draw.
	e := newEnv(t, func(c *Config) { c.DrainRate = 20 })
	n := e.start()
	const clients = 20
	cs := make([]*tclient, clients)
	for i := range cs {
		cs[i], _ = e.connect(int64(200+i), "d")
	}
	done := drainAsync(n, time.Minute, 30*time.Second)
	var mu sync.Mutex
	var first, last time.Time
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.next(10 * time.Second)
			if err != nil || f.Type != wire.TypeReconnect {
				t.Errorf("got %s %v, want reconnect", f.Type, err)
				return
			}
			now := time.Now()
			mu.Lock()
			if first.IsZero() || now.Before(first) {
				first = now
			}
			if now.After(last) {
				last = now
			}
			mu.Unlock()
			_ = c.nc.Close()
		}()
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := last.Sub(first); d < 200*time.Millisecond {
		t.Fatalf("all reconnects within %s: not spread", d)
	}
}

func TestDrainSpread_BoundedByRateAndWindow(t *testing.T) {
	n := &Node{cfg: Config{DrainRate: 1000}}
	for _, c := range []struct {
		count  int
		window time.Duration
		want   time.Duration
	}{
		{0, 30 * time.Second, 0},
		{500, 30 * time.Second, 500 * time.Millisecond},      // the rate decides
		{100000, 30 * time.Second, 22500 * time.Millisecond}, // capped by the window share
	} {
		if got := n.drainSpread(c.count, c.window); got != c.want {
			t.Errorf("drainSpread(%d, %s) = %s, want %s", c.count, c.window, got, c.want)
		}
	}
}

func TestDrain_KeepsDeliveringInFlightJobsThenClosesClientsThatStay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.DrainRate = 100000 })
	n := e.start()
	c, _ := e.connect(300, "d")
	done := drainAsync(n, time.Minute, 3*time.Second)
	c.expectReconnect()
	// The client ignores the Reconnect. A job the relay wrote before it saw
	// the node leave is still delivered during the window.
	e.push(msgJob("late", jobTarget(300, 1)))
	if got := versions(c.messages(1)); got != "1," {
		t.Fatalf("versions %s", got)
	}
	c.expectReason(wire.TypeClose, wire.CodeShuttingDown)
	c.expectClosed()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := e.pending(); p != 0 {
		t.Fatalf("%d stream entries left unacked", p)
	}
}

func TestDrain_HandshakeDuringDrainGetsShuttingDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.DrainRate = 100000 })
	n := e.start()
	stay, _ := e.connect(400, "d") // keeps the node draining
	early := e.dial()              // connected, no Hello yet
	testenv.Eventually(t, 5*time.Second, func() bool { return len(n.snapshotConns()) == 2 }, "both connections accepted")
	done := drainAsync(n, time.Minute, 3*time.Second)
	stay.expectReconnect()
	early.expectReason(wire.TypeClose, wire.CodeShuttingDown)
	early.expectClosed()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
