package client

import (
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/wire"
)

func TestClient_DiscoversWhereToConnectAndMovesOffADrainingNodeEvenIfStillListed(t *testing.T) {
	light, heavy := newFakePush(t), newFakePush(t)
	h := startWithAPI(t, func(f *fakeAPI) {
		f.setNodes(false, tether.PushNode{ID: "light", TCP: light.addr()}, tether.PushNode{ID: "heavy", TCP: heavy.addr()})
	}, func(c *Config) { c.PushAddr, c.Discover = "", true })
	fc, first := nextOf(t, light, heavy)
	if first != light {
		t.Fatal("connected to the more loaded node; discovery lists the lighter one first")
	}
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	// The node drains; the registry's answer is a heartbeat old and still
	// lists it first. The client asks again and goes elsewhere.
	fc.write(wire.AppendReconnect(nil, 10))
	fc2, second := nextOf(t, light, heavy)
	if second != heavy {
		t.Fatal("went back to the node that told it to leave")
	}
	fc2.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 2 }, "reconnected")
	h.api.mu.Lock()
	n := h.api.discoveries
	h.api.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d discovery requests, want one per connection", n)
	}
}

func TestClient_DiscoveryDownFallsBackToTheConfiguredAddresses(t *testing.T) {
	h := startWithAPI(t, func(f *fakeAPI) { f.setNodes(true) }, func(c *Config) { c.Discover = true })
	fc := h.push.next() // the configured PushAddr
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected through the configured address")
}

func TestAddrList_DiscoveredNodesFirstThenConfiguredOnesAndTheAvoidedOneLast(t *testing.T) {
	a := newAddrList(Config{PushAddr: "static:1"})
	a.discovered([]string{"ws://n1:7071/ws", "ws://n2:7071/ws"}, "")
	if len(a.addrs) != 3 || a.current() != "ws://n1:7071/ws" || a.addrs[2] != "static:1" {
		t.Fatalf("addrs %v", a.addrs)
	}
	a.discovered([]string{"x:1", "y:1"}, "x:1")
	if a.current() != "y:1" || a.addrs[len(a.addrs)-1] != "x:1" {
		t.Fatalf("the avoided node must go last: %v", a.addrs)
	}
	a.discovered(nil, "y:1") // no node ready: keep what is known
	if len(a.addrs) != 3 {
		t.Fatalf("addrs %v", a.addrs)
	}
}
