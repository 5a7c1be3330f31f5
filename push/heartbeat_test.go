package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/switches"
)

// helloV dials and sends a Hello offering version v as uid/device on
// platform; it returns the client and the Welcome.
func (e *env) helloV(v uint8, uid int64, device, platform string) (*tclient, wire.Welcome) {
	e.t.Helper()
	c := e.dial()
	c.send(wire.AppendHello(nil, wire.Hello{Version: v, Token: e.tokenOn(uid, device, platform), Platform: platform, DeviceID: device, AppVersion: "2.1.0"}))
	f := c.read()
	if f.Type != wire.TypeWelcome {
		e.t.Fatalf("handshake: got %s %v, want welcome", f.Type, f.Reason)
	}
	return c, f.Welcome
}

// heartbeatAcks turns the heartbeat_acks switch on for rules (nil: everyone).
func heartbeatAcks(n *Node, version int64, value string, rules *switches.Rules) {
	n.sw.Install(&switches.Snapshot{Version: version, Switches: []switches.State{{Name: switches.HeartbeatAcks, Value: value, Rules: rules}}})
}

// Version 2 is a gray release: a node grants it only to a Hello that offers
// it and that the heartbeat_acks switch selects; everyone else, old clients
// first, is served version 1, where a Heartbeat frame is not allowed.
func TestHeartbeatAcks_TheSwitchDecidesWhoGetsVersion2AndOldClientsKeepVersion1(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		if _, w := e.helloV(2, 1, "a", "ios"); w.Version != 1 {
			t.Fatalf("switch off (the default): version %d, want 1", w.Version)
		}
		heartbeatAcks(n, 1, "on", &switches.Rules{Platforms: []string{"ios"}, MinAppVersion: "2.0"})
		ios, w := e.helloV(2, 2, "b", "ios")
		if w.Version != 2 {
			t.Fatalf("ios 2.1.0 selected by the rules: version %d, want 2", w.Version)
		}
		ios.send(wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 0}))
		if f := ios.read(); f.Type != wire.TypePong {
			t.Fatalf("a heartbeat is answered with %s, want pong", f.Type)
		}
		if _, w := e.helloV(1, 3, "c", "ios"); w.Version != 1 {
			t.Fatalf("a version 1 client: version %d, want 1", w.Version)
		}
		web, w := e.helloV(2, 4, "d", "web")
		if w.Version != 1 {
			t.Fatalf("web is outside the rules: version %d, want 1", w.Version)
		}
		web.send(wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 1}))
		web.expectReason(wire.TypeError, wire.CodeUnexpectedFrame)
	})
}

// A Heartbeat carries what Ack and PushAck frames carried: the device's
// ack is recorded (never backwards) and every push id counts as
// acknowledged, once per id it names.
func TestHeartbeatAcks_AHeartbeatRecordsTheAckAndCountsItsPushAcks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AckFlushInterval = time.Hour }) // counts stay in memory to be read
	n := e.start()
	heartbeatAcks(n, 1, "on", nil)
	c, w := e.helloV(2, 6, "d", "ios")
	if w.Version != 2 {
		t.Fatalf("version %d, want 2", w.Version)
	}
	n.transient.counts.take()
	c.send(wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 50, PushAcks: []string{"p1", "p2", "p1"}}))
	c.send(wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 20})) // a late, smaller ack
	for range 2 {
		if f := c.read(); f.Type != wire.TypePong {
			t.Fatalf("got %s, want pong", f.Type)
		}
	}
	acks := n.acks.take()
	if v := acks[ackKey{6, "d"}]; v != 50 {
		t.Fatalf("recorded ack %d, want 50 (%v)", v, acks)
	}
	got := n.transient.counts.take()
	if got[pushCountKey{"p1", pushstatus.Acknowledged}] != 2 || got[pushCountKey{"p2", pushstatus.Acknowledged}] != 1 {
		t.Fatalf("acknowledged counts %v, want p1 2 and p2 1", got)
	}
}

// Nothing the node does waits for an ack: with version 2 a client acks
// only on its next heartbeat, and its pushes still count as delivered,
// its entries and pushes still arrive at once, and no unacked entry is
// sent again (redelivery is the client's sync from its own last version).
func TestHeartbeatAcks_DeliveryAndDeliveredStatusNeverWaitForAnAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AckFlushInterval = time.Hour })
	n := e.start()
	heartbeatAcks(n, 1, "on", nil)
	c, _ := e.helloV(2, 7, "d", "ios")
	n.transient.counts.take()
	e.push(pushJob("px", `{"n":1}`, nil, job.Target{UserID: 7}))
	if f := c.read(); f.Type != wire.TypePush || f.Push.ID != "px" {
		t.Fatalf("got %s %+v, want push px", f.Type, f.Push)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		return n.transient.counts.take()[pushCountKey{"px", pushstatus.Delivered}] == 1
	}, "px counted delivered with no ack at all")
	for v := uint64(1); v <= 5; v++ {
		e.push(msgJob("x", jobTarget(7, v)))
	}
	if ms := c.messages(5); versions(ms) != "1,2,3,4,5," {
		t.Fatalf("entries %s, want 1..5", versions(ms))
	}
	c.roundTrip() // nothing else came: no entry is sent again for want of an ack
	if len(n.acks.take()) != 0 {
		t.Fatal("an ack was recorded that the client never sent")
	}
}

// A session keeps the version its Welcome granted across a hot restart:
// the new process, whose switch has not even been turned on, still reads
// its heartbeats instead of failing it with unexpected_frame.
func TestHeartbeatAcks_AVersion2SessionStaysVersion2AcrossAHotRestart(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	heartbeatAcks(e.start(), 1, "on", nil)
	c, w := e.helloV(2, 1, "phone", "ios")
	if w.Version != 2 {
		t.Fatalf("version %d, want 2", w.Version)
	}
	old, _ := e.takeOver()
	if err := old.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.send(wire.AppendHeartbeat(nil, wire.Heartbeat{Ack: 3}))
	if f := c.read(); f.Type != wire.TypePong {
		t.Fatalf("a heartbeat after the restart got %s %v, want pong", f.Type, f.Reason)
	}
}
