package store_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// TestGroupSend_AcceptLatency measures how long Send takes to accept a
// message to a large group on MySQL: one transaction that locks the group
// row and every member's timeline head, inserts the message, one timeline
// row per member, the outbox row and the conversation rows. By default the
// group has 200 members so CI stays fast; TETHER_GROUP_MEASURE=1 measures the
// issue's 2,000 members and reports them against its target (accept p99 <=
// 100 ms). The test fails only past a sanity bound: the machine it runs on
// is shared, and the numbers are a measurement, not a guarantee.
func TestGroupSend_AcceptLatency(t *testing.T) {
	const target, bound = 100 * time.Millisecond, 2 * time.Second
	members, sends := 200, 30
	if os.Getenv("TETHER_GROUP_MEASURE") == "1" {
		members, sends = tether.MaxGroupMembers, 50
	}
	db := openDB(t, store.DriverMySQL)
	f := newGroupFixture(t, db)
	ctx := testCtx(t)
	ids := f.users(t, "m", members)
	start := time.Now()
	g, err := f.groups.CreateGroup(ctx, ids[0], tether.NewGroup{Name: "big", MemberIDs: ids[1:]})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created a %d-member group in %v", g.MemberCount, time.Since(start).Round(time.Millisecond))
	// Warm the connection pool and the caches once.
	if err := f.sendGroup(ctx, ids[0], g.ID, "warm"); err != nil {
		t.Fatal(err)
	}
	took := make([]time.Duration, 0, sends)
	for i := range sends {
		sender := ids[(i*37)%members]
		start := time.Now()
		if err := f.sendGroup(ctx, sender, g.ID, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	p50, p99, worst := p(0.50), p(0.99), took[len(took)-1]
	t.Logf("group send accept latency, %d members, %d sends: p50 %v p99 %v max %v",
		members, sends, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), worst.Round(100*time.Microsecond))
	if p99 > target {
		t.Logf("accept p99 %v misses the issue's target of %v", p99, target)
	}
	if p99 > bound {
		t.Errorf("accept p99 %v is over the sanity bound of %v", p99, bound)
	}
	// Every member has every message: the last one is in each timeline.
	page, err := f.msgs.Sync(ctx, ids[members-1], 0, tether.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range page.Entries {
		if e.Kind == tether.EntryMessage {
			n++
		}
	}
	if n != sends+1 {
		t.Fatalf("the last member has %d messages, want %d", n, sends+1)
	}
}
