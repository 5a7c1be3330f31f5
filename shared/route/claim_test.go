package route

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestClaim_ReturnsPreviousLiveSessionsAndWritesRoute(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			t.Fatal(err)
		}
	}
	r.AddSession(ctx, 1, Session{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: "c1"})
	r.AddSession(ctx, 1, Session{DeviceID: "tablet", NodeID: "n2", Platform: "ios", ConnID: "c2"})
	r.AddSession(ctx, 1, Session{DeviceID: "old", NodeID: "dead", Platform: "web", ConnID: "c3"})
	if _, err := r.Announce(ctx, map[int64]uint64{1: 9}); err != nil {
		t.Fatal(err)
	}
	r.AddSession(ctx, 1, Session{DeviceID: "old", NodeID: "dead", Platform: "web", ConnID: "c3"})

	// The same device on a new connection: its old route is reported too.
	s := Session{DeviceID: "phone", NodeID: "n2", Platform: "ios", ConnID: "c4"}
	v, ok, prev, err := r.Claim(ctx, 1, s)
	if err != nil || !ok || v != 9 {
		t.Fatalf("v=%d ok=%v err=%v", v, ok, err)
	}
	sort.Slice(prev, func(i, j int) bool { return prev[i].ConnID < prev[j].ConnID })
	if len(prev) != 2 || prev[0].ConnID != "c1" || prev[0].NodeID != "n1" || prev[1].ConnID != "c2" || prev[1].DeviceID != "tablet" {
		t.Fatalf("prev = %+v (the dead node's route must be left out)", prev)
	}
	if got := rdb.HGet(ctx, r.Keys().Route(1), "phone").Val(); got != s.value() {
		t.Fatalf("route = %q", got)
	}
	// Claiming again on the same connection (a retry) reports only the others.
	_, _, prev, err = r.Claim(ctx, 1, s)
	if err != nil || len(prev) != 1 || prev[0].ConnID != "c2" {
		t.Fatalf("retry prev = %+v err=%v", prev, err)
	}
	_, ok, prev, err = r.Claim(ctx, 2, Session{DeviceID: "d", NodeID: "n1", ConnID: "x"})
	if err != nil || ok || prev != nil {
		t.Fatalf("fresh user: ok=%v prev=%+v err=%v", ok, prev, err)
	}
}

// Two logins racing on different nodes: exactly one sees the other, so the
// policy kicks one of them, never both and never neither.
func TestClaim_ConcurrentLoginsSeeEachOtherExactlyOnce(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			t.Fatal(err)
		}
	}
	for uid := int64(1); uid <= 50; uid++ {
		var wg sync.WaitGroup
		seen := make([]int, 2)
		for i, n := range []string{"n1", "n2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, prev, err := r.Claim(ctx, uid, Session{DeviceID: n, NodeID: n, Platform: "ios", ConnID: n})
				if err != nil {
					t.Error(err)
				}
				seen[i] = len(prev)
			}()
		}
		wg.Wait()
		if seen[0]+seen[1] != 1 {
			t.Fatalf("uid %d: the two logins saw %v others; want exactly one to see the other", uid, seen)
		}
	}
}
