package push

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
)

// upgradeEnv is an env whose node can be hot-restarted in this process: the
// old and the new node share the socket, as two processes would.
func upgradeEnv(t *testing.T, tr transport) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "tu") // short: Unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e := newEnv(t, func(c *Config) {
		c.UpgradeSocket = filepath.Join(dir, "up.sock")
		c.UpgradeTimeout = 10 * time.Second
		if tr == overWS {
			c.WSAddr = "127.0.0.1:0"
		}
	})
	return e.on(tr)
}

// takeOver starts a second node that takes e's node over and makes it e's node.
func (e *env) takeOver() (old, cur *Node) {
	e.t.Helper()
	old = e.node
	e.cfg.Takeover = true
	cur = e.start()
	select {
	case <-old.HandedOver():
	case <-time.After(10 * time.Second):
		e.t.Fatal("the old node was not handed over")
	}
	return old, cur
}

func TestHotRestart_SessionsMoveWithoutDisconnectAndKeepReceiving(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		e := upgradeEnv(t, tr)
		e.start()
		a, _ := e.connect(1, "phone")
		b, _ := e.connect(2, "phone")
		e.push(msgJob("before", job.Target{UserID: 1, Version: 1}, job.Target{UserID: 2, Version: 1}))
		a.messages(1)
		b.messages(1)

		old, cur := e.takeOver()
		if got := cur.Sessions(); got != 2 {
			t.Fatalf("new node has %d sessions, want 2", got)
		}
		if got := old.Sessions(); got != 0 {
			t.Fatalf("old node still has %d sessions", got)
		}
		if err := old.Stop(context.Background()); err != nil {
			t.Fatalf("stopping the handed-over node: %v", err)
		}

		e.push(msgJob("after", job.Target{UserID: 1, Version: 2}, job.Target{UserID: 2, Version: 2}))
		for _, c := range []*tclient{a, b} {
			if m := c.messages(1); m[0].Version != 2 {
				t.Fatalf("after the upgrade got version %d, want 2", m[0].Version)
			}
			c.send(wire.AppendPing(nil, []byte("42")))
			if f := c.read(); f.Type != wire.TypePong || string(f.Ping) != "42" {
				t.Fatalf("ping after the upgrade: got %s", f.Type)
			}
		}
		// The route still names the node and the same connection.
		routes, err := e.reg.Lookup(context.Background(), []int64{1})
		ss := routes[1]
		if err != nil || len(ss) != 1 || ss[0].NodeID != e.cfg.NodeID {
			t.Fatalf("route after the upgrade: %+v %v", ss, err)
		}
		// New clients are accepted by the new node on the same address.
		c, _ := e.connect(3, "tablet")
		c.send(wire.AppendPing(nil, []byte("7")))
		if f := c.read(); f.Type != wire.TypePong {
			t.Fatalf("new client: got %s", f.Type)
		}
	})
}

func TestHotRestart_HalfAFrameReadByTheOldProcessIsCompletedInTheNew(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	e.start()
	a, _ := e.connect(1, "phone")
	ping := wire.AppendPing(nil, []byte("99"))
	a.sendPartial(ping[:5])
	time.Sleep(100 * time.Millisecond) // the old process reads the half frame
	e.takeOver()
	a.send(ping[5:])
	if f := a.read(); f.Type != wire.TypePong || string(f.Ping) != "99" {
		t.Fatalf("got %s %q, want pong 99", f.Type, f.Ping)
	}
}

func TestHotRestart_QueuedOutputOfAClientThatDoesNotReadTravelsAlong(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	e.cfg.MaxQueued = 64 << 20
	e.start()
	a, _ := e.connect(1, "phone")
	// The client reads nothing: the first batch fills the socket and its
	// write blocks; the second waits in the node's queue behind it when
	// the upgrade starts, so it can only arrive if it travelled along.
	const first, n = 1000, 1100
	big := strings.Repeat("x", 16<<10)
	var jobs []job.Job
	for v := 1; v <= n; v++ {
		jobs = append(jobs, msgJob(big, job.Target{UserID: 1, Version: uint64(v)}))
	}
	e.push(jobs[:first]...)
	testenv.Eventually(t, 10*time.Second, func() bool { return e.pending() == 0 }, "first batch handled")
	e.push(jobs[first:]...)
	testenv.Eventually(t, 10*time.Second, func() bool { return e.pending() == 0 }, "second batch handled")
	got := make(chan error, 1)
	old := e.node
	go func() {
		// Reading starts once the old node holds the connection's output:
		// its write in progress completes, the rest must move.
		for !outputHeld(old) {
			time.Sleep(time.Millisecond)
		}
		for v := uint64(1); v <= n; {
			f, err := a.next(10 * time.Second)
			if err != nil {
				got <- err
				return
			}
			if f.Type != wire.TypeMessage {
				continue
			}
			if f.Message.Version != v {
				got <- fmt.Errorf("message %d has version %d", v, f.Message.Version)
				return
			}
			v++
		}
		got <- nil
	}()
	e.takeOver()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestHotRestart_AnIncompatibleNewProcessIsRefusedAndTheOldKeepsServing(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	n := e.start()
	a, _ := e.connect(1, "phone")

	newer := handoff.Me(e.cfg.NodeID)
	newer.Version++
	hc, _, err := handoff.Dial(context.Background(), e.cfg.UpgradeSocket, newer, 10*time.Second)
	if !errors.Is(err, handoff.ErrRefused) {
		if hc != nil {
			_ = hc.Close()
		}
		t.Fatalf("a new process of another protocol version got %v, want a refusal", err)
	}

	e.push(msgJob("still here", job.Target{UserID: 1, Version: 1}))
	a.messages(1)
	// ...and it can still be upgraded.
	e.takeOver()
	_ = n
	e.push(msgJob("moved", job.Target{UserID: 1, Version: 2}))
	a.messages(1)
}

// A new process that dies after the old one committed (its loops stopped,
// its connections detached and sent) must leave the old one serving as
// before: every connection taken back and every loop Start started running
// again. Each loop is checked by what only it does.
func TestHotRestart_ANewProcessThatDiesMidHandoffLeavesTheOldServingWithEveryLoop(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	e.cfg.NodeTTL = 600 * time.Millisecond // heartbeats every 200 ms
	n := e.start()
	peer, _ := e.startPeer(testenv.Name("node"), func(c *Config) { c.UpgradeSocket, c.WSAddr, c.NodeTTL = "", "", 3*time.Second })
	e.waitJoined(n.cfg.NodeID)
	alice := e.connectTo(n, 1, "phone", "ios")
	bob := e.connectTo(peer, 2, "phone", "ios")
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{1, 2})
		return err == nil && len(live[1]) == 1 && len(live[2]) == 1
	}, "routes registered")

	// The new process receives the listeners and the connection, then dies.
	hc, _, err := handoff.Dial(context.Background(), e.cfg.UpgradeSocket, handoff.Me(e.cfg.NodeID), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, fds, err := hc.RecvListeners()
	if err != nil {
		t.Fatal(err)
	}
	handoff.CloseFDs(fds)
	sts, fds, _, err := hc.RecvConns()
	if err != nil || len(sts) != 1 {
		t.Fatalf("got %d connections (%v), want alice's", len(sts), err)
	}
	handoff.CloseFDs(fds)
	_ = hc.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return !n.up.paused.Load() && n.Sessions() == 1 }, "the old node took alice back")
	select {
	case <-n.HandedOver():
		t.Fatal("the old node retired although the new process died")
	default:
	}

	// The stream consumer.
	e.push(msgJob("after", job.Target{UserID: 1, Version: 1}))
	if m := alice.messages(1); m[0].Version != 1 {
		t.Fatalf("got version %d, want 1", m[0].Version)
	}
	// The broadcast reader.
	e.broadcast("b1", `{"m":1}`)
	alice.expectPush("b1", `{"m":1}`)
	bob.expectPush("b1", `{"m":1}`)
	// The signal relay: alice's signal reaches bob on the other node.
	alice.send(signalFrame(2, "typing", `{"c":1}`))
	bob.expectSignal(1, "typing", `{"c":1}`)
	// The heartbeat and the registrar: a lost node key comes back, and
	// with it alice's route.
	ctx := context.Background()
	if err := e.rdb.Del(ctx, e.reg.Keys().Node(n.cfg.NodeID), e.reg.Keys().Route(1)).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		live, err := e.reg.Lookup(ctx, []int64{1})
		exists, xerr := e.rdb.Exists(ctx, e.reg.Keys().Node(n.cfg.NodeID)).Result()
		return err == nil && xerr == nil && exists == 1 && len(live[1]) == 1
	}, "the node key and alice's route written again")

	// ...and the node can still be upgraded.
	e.takeOver()
	e.push(msgJob("moved", job.Target{UserID: 1, Version: 2}))
	alice.messages(1)
}

func TestHotRestart_WithoutAnOldNodeTakeoverFailsAndBindsNothing(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	e.cfg.Takeover = true
	n := e.newNode()
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("takeover without a running node started")
	}
}

// outputHeld reports whether a handoff has stopped n's connections' output.
func outputHeld(n *Node) bool {
	for _, c := range n.snapshotConns() {
		c.mu.Lock()
		held := c.hold && c.state.Load() == stateOpen
		c.mu.Unlock()
		if held {
			return true
		}
	}
	return false
}
