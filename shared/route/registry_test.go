package route

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestAnnounce_SeesSessionsOfLiveNodesOnly(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	if err := r.Heartbeat(ctx, Info{ID: "n1", TCPAddr: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.AddSession(ctx, 7, Session{DeviceID: "d1", NodeID: "n1", Platform: "ios", ConnID: "c1"}); err != nil {
		t.Fatal(err)
	}
	// A route on a node that never heartbeated (or whose key expired) is not used.
	if _, _, err := r.AddSession(ctx, 7, Session{DeviceID: "d2", NodeID: "dead", Platform: "web", ConnID: "c2"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Announce(ctx, map[int64]uint64{7: 3, 8: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[7]) != 1 || got[7][0].NodeID != "n1" || got[7][0].Platform != "ios" || len(got[8]) != 0 {
		t.Fatalf("sessions = %+v", got)
	}
	// The dead route was cleaned up.
	if n := rdb.HLen(ctx, r.Keys().Route(7)).Val(); n != 1 {
		t.Fatalf("route fields = %d", n)
	}
}

func TestAddSession_SeesVersionAnnouncedBefore(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	_, ok, err := r.AddSession(ctx, 1, Session{DeviceID: "d", NodeID: "n", ConnID: "c"})
	if err != nil || ok {
		t.Fatalf("fresh user: ok=%v err=%v", ok, err)
	}
	if _, err := r.Announce(ctx, map[int64]uint64{1: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Announce(ctx, map[int64]uint64{1: 4}); err != nil { // late, smaller: ignored
		t.Fatal(err)
	}
	v, ok, err := r.AddSession(ctx, 1, Session{DeviceID: "d", NodeID: "n", ConnID: "c2"})
	if err != nil || !ok || v != 5 {
		t.Fatalf("v=%d ok=%v err=%v", v, ok, err)
	}
}

func TestRemoveSession_KeepsNewerConnectionOfSameDevice(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	old := Session{DeviceID: "d", NodeID: "n1", Platform: "ios", ConnID: "old"}
	newer := Session{DeviceID: "d", NodeID: "n2", Platform: "ios", ConnID: "new"}
	r.AddSession(ctx, 1, old)
	r.AddSession(ctx, 1, newer)
	if err := r.RemoveSession(ctx, 1, old); err != nil {
		t.Fatal(err)
	}
	if v := rdb.HGet(ctx, r.Keys().Route(1), "d").Val(); v != newer.value() {
		t.Fatalf("route = %q", v)
	}
	if err := r.RemoveSession(ctx, 1, newer); err != nil {
		t.Fatal(err)
	}
	if n := rdb.HLen(ctx, r.Keys().Route(1)).Val(); n != 0 {
		t.Fatalf("route left: %d", n)
	}
}

func TestRecordAcks_NeverMovesBackwards(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	if err := r.RecordAcks(ctx, []Ack{{1, "d", 10}, {1, "e", 3}}); err != nil {
		t.Fatal(err)
	}
	if err := r.RecordAcks(ctx, []Ack{{1, "d", 9}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.AckedVersion(ctx, 1, "d"); v != 10 {
		t.Fatalf("acked = %d", v)
	}
	if v, _ := r.AckedVersion(ctx, 1, "e"); v != 3 {
		t.Fatalf("acked e = %d", v)
	}
}

func TestHeartbeat_RefreshesTheNodeKeyAndDeregisterRemovesIt(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for i := 0; i < 2; i++ {
		if err := r.Heartbeat(ctx, Info{ID: "n1"}); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := rdb.TTL(ctx, r.Keys().Node("n1")).Val(); ttl <= 0 {
		t.Fatalf("node key ttl %v", ttl)
	}
	r.Deregister(ctx, "n1")
	if rdb.Exists(ctx, r.Keys().Node("n1")).Val() != 0 {
		t.Fatal("node key survived deregister")
	}
}
