package push

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// sessionOf returns the node's conn of uid's device.
func sessionOf(t *testing.T, n *Node, uid int64, device string) *conn {
	t.Helper()
	cs := n.hub.appendSessions(nil, uid, device)
	if len(cs) != 1 {
		t.Fatalf("uid %d device %s: %d sessions, want 1", uid, device, len(cs))
	}
	return cs[0]
}

// writerState is whether c has a writer and how much output waits.
func writerState(c *conn) (flushing bool, queued int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushing, len(c.buf)
}

func TestWriteQueue_SendToAnIdleSessionWritesOnTheCallersGoroutine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	cl, _ := e.connect(1, "d")
	c := sessionOf(t, n, 1, "d")
	for i := range 20 {
		frame := wire.AppendMessage(nil, uint64(i+1), []byte(`{"i":1}`))
		if !c.send(frame) {
			t.Fatal("send refused on an open session")
		}
		// Written by send itself: no flushLoop was started and nothing
		// waits in the queue (a goroutine per write would still own it).
		if flushing, queued := writerState(c); flushing || queued != 0 {
			t.Fatalf("after send %d: flushing=%v queued=%d, want the frame written by send", i, flushing, queued)
		}
		if m := cl.messages(1); m[0].Version != uint64(i+1) {
			t.Fatalf("got version %d, want %d", m[0].Version, i+1)
		}
	}
}

// dialSmallWindow connects to n with a tiny receive buffer, so that the
// node's socket fills after a few hundred KiB the client does not read.
func dialSmallWindow(t *testing.T, e *env, uid int64, device string) *tclient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", e.node.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	cl := &tclient{t: t, nc: nc, r: bufio.NewReader(nc)}
	cl.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(uid, device), Platform: "test", DeviceID: device, AppVersion: "t/1"}))
	if f := cl.read(); f.Type != wire.TypeWelcome {
		t.Fatalf("handshake: got %s %v", f.Type, f.Reason)
	}
	return cl
}

func TestWriteQueue_FullSocketNeverBlocksTheSenderAndLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxQueued = 8 << 20; c.WriteTimeout = 10 * time.Second })
	n := e.start()
	cl := dialSmallWindow(t, e, 1, "d")
	c := sessionOf(t, n, 1, "d")
	// And a small send buffer on the node's side.
	if err := syscall.SetsockoptInt(c.nc.(interface{ Fd() int }).Fd(), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8192); err != nil {
		t.Fatal(err)
	}

	// 120 frames of 16 KiB (almost 2 MiB) to a client that reads nothing
	// yet: the socket fills, a write is partial, and the rest must be
	// written by a flushLoop, in order, without send ever waiting.
	const frames = 120
	body := bytes.Repeat([]byte("x"), 16<<10)
	handedOff := false
	for i := range frames {
		start := time.Now()
		if !c.send(wire.AppendMessage(nil, uint64(i+1), body)) {
			t.Fatalf("send %d refused", i)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("send %d took %v: it waited for a client that does not read", i, d)
		}
		if flushing, _ := writerState(c); flushing {
			handedOff = true
		}
	}
	if !handedOff {
		t.Fatal("the socket never filled: the test did not reach a partial write")
	}
	for i := range frames {
		f := cl.read()
		if f.Type != wire.TypeMessage || f.Message.Version != uint64(i+1) || !bytes.Equal(f.Message.Body, body) {
			t.Fatalf("frame %d: got %s version %d (%d bytes), want message %d", i, f.Type, f.Message.Version, len(f.Message.Body), i+1)
		}
	}
	// The writer is given back once the queue drained, and the next send
	// is written inline again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if flushing, queued := writerState(c); !flushing && queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flushLoop never gave the writer back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !c.send(wire.AppendMessage(nil, frames+1, []byte(`{}`))) {
		t.Fatal("send refused after the drain")
	}
	if m := cl.messages(1); m[0].Version != frames+1 {
		t.Fatalf("got version %d after the drain, want %d", m[0].Version, frames+1)
	}
}

func TestWriteQueue_SlowConsumerCloseKeepsTheRestOfAPartlyWrittenFrame(t *testing.T) {
	t.Parallel()
	frame := wire.AppendMessage(nil, 7, []byte(`{"a":1}`))
	rest := frame[5:] // the socket took the first 5 bytes
	queued := wire.AppendMessage(nil, 8, []byte(`{"b":2}`))
	c := &conn{flushing: true} // a writer runs, so closeWith starts none
	c.buf = append(append([]byte(nil), rest...), queued...)
	c.keep = len(rest)
	if !c.closeWith(wire.TypeError, wire.CodeSlowConsumer, "overflow") {
		t.Fatal("closeWith did not start the close")
	}
	want := append(append([]byte(nil), rest...), wire.AppendError(nil, wire.CodeSlowConsumer, "overflow")...)
	if !bytes.Equal(c.buf, want) {
		t.Fatalf("queue after a slow-consumer close:\n got %x\nwant %x (the frame's rest, then the Error; queued messages dropped)", c.buf, want)
	}
}

func TestBroadcast_FanOutWritersShareTheShards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.newNode()
	n.transient.bc.scratch = make([][]*conn, 3) // three writers, whatever GOMAXPROCS is
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.node = n
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	e.waitJoined(n.cfg.NodeID)
	// Sessions on every hub shard, several writers: each gets every
	// broadcast exactly once, in order.
	const sessions = 2 * hubShards
	clients := make([]*tclient, sessions)
	for i := range clients {
		clients[i] = e.connectTo(n, int64(1000+i), "d", "ios")
	}
	for i := range 5 {
		e.broadcast(fmt.Sprint("p", i), `{}`)
	}
	for _, c := range clients {
		for i := range 5 {
			c.expectPush(fmt.Sprint("p", i), `{}`)
		}
		c.roundTrip() // and nothing more
	}
}
