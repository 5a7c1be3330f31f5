package client

import (
	"net"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// nextOf returns the next connection made to either fake node, and which.
func nextOf(t *testing.T, a, b *fakePush) (*fakeConn, *fakePush) {
	t.Helper()
	select {
	case c := <-a.conns:
		return c, a
	case c := <-b.conns:
		return c, b
	case <-time.After(waitFor):
		t.Fatal("no connection from the client")
		return nil, nil
	}
}

func TestAddrList_MergesDedupesStartsAnywhereAndRotatesThroughAll(t *testing.T) {
	starts := map[string]bool{}
	for i := 0; i < 200; i++ {
		a := newAddrList(Config{PushAddr: "a:1", PushAddrs: []string{"b:1", "a:1", "", "c:1"}})
		if len(a.addrs) != 3 {
			t.Fatalf("addrs = %v", a.addrs)
		}
		starts[a.current()] = true
		seen := map[string]bool{}
		for range 3 {
			seen[a.current()] = true
			a.advance()
		}
		if len(seen) != 3 {
			t.Fatalf("three advances visited %v", seen)
		}
	}
	if len(starts) != 3 {
		t.Fatalf("start addresses %v: clients would not spread over the nodes", starts)
	}
}

func TestClient_ReconnectFrameLeavesPolitelyMovesToAnotherNodeAndSyncs(t *testing.T) {
	p2 := newFakePush(t)
	h := start(t, func(c *Config) { c.PushAddrs = []string{p2.addr()} })
	h.api.grow(3)
	fc, first := nextOf(t, h.push, p2)
	fc.welcome(0, 0, 1000)
	fc.push(1, 2, 3)
	h.delivered(3)
	h.api.grow(5) // committed while the client moves
	fc.write(wire.AppendReconnect(nil, 20))

	fc2, second := nextOf(t, h.push, p2)
	if second == first {
		t.Fatal("reconnected to the draining node instead of the next one")
	}
	// The draining node got the final ack and an orderly Close before the move.
	<-fc.done
	if acks := fc.framesOf(wire.TypeAck); len(acks) == 0 || acks[len(acks)-1].Ack != 3 {
		t.Fatalf("acks before leaving: %v", acks)
	}
	if fc.count(wire.TypeClose) != 1 {
		t.Fatal("no Close sent to the draining node")
	}
	if fc2.hello.LastVersion != 3 {
		t.Fatalf("hello.LastVersion = %d, want 3", fc2.hello.LastVersion)
	}
	fc2.welcome(5, 0, 1000)
	h.delivered(5)
	h.rec.requireExactly(t, 1, 5)
	if s := h.c.Stats(); s.Connects != 2 || s.DialFailures != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestClient_SyncFrameSyncsOnlyWhenAheadOrUnknown(t *testing.T) {
	h := start(t, nil)
	h.api.grow(2)
	fc := h.push.next()
	fc.welcome(2, 0, 1000)
	h.delivered(2)
	_, _, syncs := h.api.counts()
	base := len(syncs)

	fc.write(wire.AppendSync(nil, 2)) // not ahead: ignored
	h.api.grow(4)
	fc.write(wire.AppendSync(nil, 4)) // ahead: sync
	h.delivered(4)
	h.rec.requireExactly(t, 1, 4)
	if _, _, syncs := h.api.counts(); len(syncs) != base+1 || syncs[base] != 2 {
		t.Fatalf("syncs %v, want one more from 2", syncs)
	}
	h.api.grow(5)
	fc.write(wire.AppendSync(nil, 0)) // unknown: sync to be safe
	h.delivered(5)
	if _, _, syncs := h.api.counts(); len(syncs) != base+2 {
		t.Fatalf("syncs %v, want two", syncs)
	}
}

func TestClient_UnreachableAddressSkippedForTheNextOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	h := start(t, func(c *Config) { c.PushAddrs = []string{dead} })
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
}
