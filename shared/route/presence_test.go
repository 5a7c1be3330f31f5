package route

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestOnlineDevicesOf_ReadsAllUsersAtOnceAndIgnoresDeadNodes(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(uid int64, dev, node, plat string) {
		t.Helper()
		if _, _, err := r.AddSession(ctx, uid, Session{DeviceID: dev, NodeID: node, Platform: plat, ConnID: dev}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "phone", "n1", "ios")
	add(1, "laptop", "n2", "desktop")
	add(1, "tablet", "dead", "android") // a node whose heartbeat key is gone
	add(2, "web", "dead", "web")
	add(3, "phone", "n2", "android")

	got, err := r.OnlineDevicesOf(ctx, []int64{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]map[string]string{
		1: {"phone": "ios", "laptop": "desktop"},
		3: {"phone": "android"},
	}
	if len(got) != len(want) || !maps.EqualFunc(got, want, func(a, b map[string]string) bool { return maps.Equal(a, b) }) {
		t.Fatalf("online devices = %v, want %v", got, want)
	}
	// Read-only: the dead node's routes are still there.
	if n := rdb.HLen(ctx, r.Keys().Route(2)).Val(); n != 1 {
		t.Fatalf("route of user 2 has %d fields, want 1", n)
	}
	if got, err := r.OnlineDevicesOf(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no users: %v %v", got, err)
	}
	// A node that stops heartbeating drops out once its key expires.
	if err := r.Deregister(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	delete(r.alive, "n2") // the liveness cache trusts a node for a second
	r.mu.Unlock()
	got, err = r.OnlineDevicesOf(ctx, []int64{1, 3})
	if err != nil || len(got) != 1 || !maps.Equal(got[1], map[string]string{"phone": "ios"}) {
		t.Fatalf("after n2 left: %v %v", got, err)
	}
}
