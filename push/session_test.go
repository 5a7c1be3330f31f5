package push

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
)

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	// The outage tests make go-redis log every failed dial.
	redis.SetLogger(quietRedis{})
	os.Exit(auditDescriptors(m)) // fdaudit_test.go
}

func TestPing_PongEchoesPayload(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		e.start()
		c, _ := e.connect(1, "d")
		for _, p := range [][]byte{nil, {1}, {1, 2, 3, 4, 5, 6, 7, 8}} {
			c.send(wire.AppendPing(nil, p))
			f := c.read()
			if f.Type != wire.TypePong || string(f.Ping) != string(p) {
				t.Fatalf("ping %x: got %s %x", p, f.Type, f.Ping)
			}
		}
		if e.counter("tether_calls_total", metrics.LayerPush, "ping") != 3 {
			t.Fatal("ping frames did not pass the metrics dispatch point")
		}
	})
}

func TestFrames_AfterHandshakeBadInputClosesWithCode(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.MaxPayload = 1024 }).on(tr)
		n := e.start()
		cases := []struct {
			name string
			send []byte
			code wire.Code
		}{
			{"second hello", wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(1, "d")}), wire.CodeUnexpectedFrame},
			{"server frame", wire.AppendMessage(nil, 1, []byte("{}")), wire.CodeUnexpectedFrame},
			{"unknown type", []byte{0x7f, 0, 0, 0, 0}, wire.CodeBadFrame},
			{"oversized without payload", []byte{byte(wire.TypeAck), 0, 0, 0x04, 0x01}, wire.CodeFrameTooLarge},
			{"ping too long", wire.AppendPing(nil, make([]byte, 9)), wire.CodeBadFrame},
			{"short ack", []byte{byte(wire.TypeAck), 0, 0, 0, 3, 1, 2, 3}, wire.CodeBadFrame},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := e.connect(int64(100+i), "d")
				c.t = t
				c.send(tc.send)
				c.expectReason(wire.TypeError, tc.code)
				c.expectClosed()
			})
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 0 }, "sessions gone")
		c, _ := e.connect(2, "d")
		c.send(wire.AppendPing(nil, nil))
		if f := c.read(); f.Type != wire.TypePong {
			t.Fatalf("node no longer serves: %s", f.Type)
		}
	})
}

func TestClientClose_ClosesConnection(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		c, _ := e.connect(1, "d")
		c.send(wire.AppendClose(nil, wire.CodeNormal, "bye"))
		c.expectClosed()
		testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 0 }, "session gone")
	})
}

func TestIdle_SilentClientClosedButPingingClientKept(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.IdleTimeout = 400 * time.Millisecond }).on(tr)
		e.start()
		silent, _ := e.connect(1, "silent")
		live, _ := e.connect(2, "live")
		deadline := time.Now().Add(1200 * time.Millisecond)
		for time.Now().Before(deadline) {
			live.send(wire.AppendPing(nil, nil))
			if f := live.read(); f.Type != wire.TypePong {
				t.Fatalf("pinging client got %s %v", f.Type, f.Reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		silent.expectReason(wire.TypeError, wire.CodeIdleTimeout)
		silent.expectClosed()
	})
}

func TestDisconnect_RemovesSessionAndRoute(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		c, _ := e.connect(3, "d")
		_ = c.nc.Close()
		testenv.Eventually(t, 5*time.Second, func() bool {
			r, err := e.reg.Lookup(context.Background(), []int64{3})
			return err == nil && len(r[3]) == 0 && n.Sessions() == 0
		}, "route removed")
	})
}

func TestSession_SameDeviceReplacesAndClosesOld(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		old, _ := e.connect(4, "phone")
		other, _ := e.connect(4, "tablet")
		cur, w := e.connect(4, "phone")
		old.expectKick(wire.CodeReplaced) // and closed
		testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 2 }, "two sessions")
		// The old connection's cleanup must not remove the new route.
		time.Sleep(100 * time.Millisecond)
		routes, err := e.reg.Lookup(context.Background(), []int64{4})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range routes[4] {
			if s.DeviceID == "phone" {
				found = s.ConnID == w.SessionID
			}
		}
		if !found {
			t.Fatalf("routes = %+v, want phone on %s", routes[4], w.SessionID)
		}
		e.push(msgJob("x", jobTarget(4, 1)))
		cur.messages(1)
		other.messages(1)
	})
}

func TestAcks_ReachRedisBatchedAndNeverBackwards(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.AckFlushInterval = 100 * time.Millisecond }).on(tr)
		e.start()
		c, _ := e.connect(6, "d")
		for v := uint64(1); v <= 50; v++ {
			c.send(wire.AppendAck(nil, v))
		}
		c.send(wire.AppendAck(nil, 20)) // a late, smaller ack
		acked := func() uint64 {
			v, err := e.reg.AckedVersion(context.Background(), 6, "d")
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return acked() == 50 }, "ack 50 recorded")
		// 51 acks must not have cost 51 Redis writes.
		if w := e.counter("tether_calls_total", metrics.LayerRedis, "evalsha"); w > 10 {
			t.Fatalf("%v ack writes for 51 acks: not batched", w)
		}
		c.send(wire.AppendAck(nil, 10))
		c.send(wire.AppendPing(nil, nil))
		c.read()
		time.Sleep(300 * time.Millisecond) // several flush intervals
		if v := acked(); v != 50 {
			t.Fatalf("acked version moved to %d", v)
		}
	})
}

func TestStop_ClosesClientsWithShuttingDownAndDeregisters(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		a, _ := e.connect(7, "a")
		b, _ := e.connect(8, "b")
		pre := e.dial() // not yet authenticated
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*tclient{a, b, pre} {
			c.expectReason(wire.TypeClose, wire.CodeShuttingDown)
			c.expectClosed()
		}
		if n.Sessions() != 0 {
			t.Fatalf("sessions = %d", n.Sessions())
		}
		if x := e.rdb.Exists(context.Background(), e.reg.Keys().Node(e.cfg.NodeID)).Val(); x != 0 {
			t.Fatal("node key still registered")
		}
		r, err := e.reg.Lookup(context.Background(), []int64{7, 8})
		if err != nil || len(r) != 0 {
			t.Fatalf("routes after stop: %+v %v", r, err)
		}
	})
}

func TestSlowConsumer_ClosedInsteadOfBufferingWithoutBound(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.MaxQueued = 64 << 10 }).on(tr)
		n := e.start()
		c, _ := e.connect(9, "d")
		_ = c.nc.(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
		body := make([]byte, 8<<10)
		for i := range body {
			body[i] = 'a'
		}
		closing := func() bool {
			for _, x := range n.snapshotConns() {
				if !x.isClosing() {
					return false
				}
			}
			return true
		}
		v := uint64(0)
		for !closing() {
			if v > 20000 {
				t.Fatal("160 MB queued for a client that does not read")
			}
			batch := make([]job.Job, 50)
			for i := range batch {
				v++
				batch[i] = msgJob(string(body), jobTarget(9, v))
			}
			e.push(batch...)
			time.Sleep(20 * time.Millisecond)
		}
		c.expectReason(wire.TypeError, wire.CodeSlowConsumer)
		c.expectClosed()
		if got := failedCloses(n, wire.CodeSlowConsumer); got != 1 {
			t.Errorf("slow_consumer closes = %v, want 1", got)
		}
		// Other users are unaffected.
		d, _ := e.connect(10, "d")
		e.push(msgJob("hi", jobTarget(10, 1)))
		if ms := d.messages(1); ms[0].Version != 1 {
			t.Fatal(fmt.Sprint(ms))
		}
	})
}
