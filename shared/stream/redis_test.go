package stream

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
)

func pushJob(id string, uid int64) job.Job {
	return job.Job{ID: id, Kind: job.KindPush, PushID: id, Body: []byte(`{"x":1}`), Targets: []job.Target{{UserID: uid}}}
}

func bcJob(id string) job.Job {
	return job.Job{ID: id, Kind: job.KindBroadcast, PushID: id, Body: []byte(`{}`)}
}

func TestPublish_OneEntryPerJobOnItsNodesStreamStamped(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewRedis(rdb, prefix, Caps{})
	if err := s.Publish(ctx, []NodeJob{{Node: "n1", Job: pushJob("a", 1)}, {Node: "n2", Job: pushJob("b", 2)}, {Node: "n1", Job: pushJob("c", 3)}}); err != nil {
		t.Fatal(err)
	}
	read := func(node string) (ids []string) {
		entries, err := rdb.XRange(ctx, s.Keys().Node(node), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			en := decode(e.ID, e.Values[Field])
			if en.Err != nil || en.Job.EnqueuedMS == 0 {
				t.Fatalf("entry %+v", en)
			}
			ids = append(ids, en.Job.ID)
		}
		return ids
	}
	if got := read("n1"); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Fatalf("n1 = %v", got)
	}
	if got := read("n2"); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("n2 = %v", got)
	}
	if err := s.Publish(ctx, nil); err != nil {
		t.Fatalf("publishing nothing: %v", err)
	}
}

func TestBroadcast_TrimsTheStreamToItsCapAndTakesOnlyBroadcasts(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewRedis(rdb, prefix, Caps{Broadcast: 10})
	// MAXLEN ~ trims whole radix-tree nodes (100 entries by default), so
	// write well past the cap.
	for i := 0; i < 500; i++ {
		if _, err := s.Broadcast(ctx, bcJob("b")); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.XLen(ctx, s.Keys().Broadcast()).Val(); n >= 500 || n < 10 {
		t.Fatalf("broadcast stream holds %d entries; want trimmed to about 10", n)
	}
	if _, err := s.Broadcast(ctx, pushJob("p", 1)); err == nil {
		t.Fatal("Broadcast took a push job")
	}
}

func TestBroadcastSource_JoinsAtTheEndLeavesAndRecoversAfterTheLastRead(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewRedis(rdb, prefix, Caps{})
	old, err := s.Broadcast(ctx, bcJob("old"))
	if err != nil {
		t.Fatal(err)
	}
	src := s.BroadcastSource("n1")
	last, err := src.Join(ctx)
	if err != nil || last != old {
		t.Fatalf("Join = %q, %v; want the stream's end %q", last, err, old)
	}
	// Nothing sent before the join is delivered.
	if got, err := src.Read(ctx, false, "", 10, -1); err != nil || len(got) != 0 {
		t.Fatalf("a fresh group read %v, %v", got, err)
	}
	// Joining again keeps the position.
	fresh, _ := s.Broadcast(ctx, bcJob("new"))
	if again, err := src.Join(ctx); err != nil || again != old {
		t.Fatalf("second Join = %q, %v; want %q", again, err, old)
	}
	if err := s.LeaveBroadcast(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Read(ctx, false, "", 10, -1); !isNoGroup(err) {
		t.Fatalf("read without a group: %v, want ErrNoGroup", err)
	}
	if err := src.Recover(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := src.Read(ctx, false, "", 10, -1)
	if err != nil || len(got) != 1 || got[0].ID != fresh || got[0].Job.ID != "new" {
		t.Fatalf("after recovering at %s: %+v, %v; want only %s", old, got, err, fresh)
	}
	if err := s.LeaveBroadcast(ctx, "never-joined"); err != nil {
		t.Fatalf("LeaveBroadcast of an unknown group: %v", err)
	}
	if err := NewRedis(rdb, prefix+"empty:", Caps{}).LeaveBroadcast(ctx, "n1"); err != nil {
		t.Fatalf("LeaveBroadcast without a stream: %v", err)
	}
}

func TestNodeSource_ReadsJobsPublishedBeforeItJoinedPendingUntilAcked(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewRedis(rdb, prefix, Caps{})
	if err := s.Publish(ctx, []NodeJob{{Node: "n1", Job: pushJob("a", 1)}}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.Keys().Node("n1"), Values: []any{"other", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	src := s.NodeSource("n1")
	for range 2 { // idempotent
		if _, err := src.Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := src.Read(ctx, false, "", 10, -1)
	if err != nil || len(got) != 2 || got[0].Job.ID != "a" || got[0].Err != nil || got[1].Err == nil {
		t.Fatalf("read %+v, %v; want job a and a poisoned entry", got, err)
	}
	pend, err := src.Read(ctx, true, "", 10, 0)
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending %+v, %v", pend, err)
	}
	if err := src.Ack(ctx, []string{got[0].ID, got[1].ID}); err != nil {
		t.Fatal(err)
	}
	if pend, err := src.Read(ctx, true, "", 10, 0); err != nil || len(pend) != 0 {
		t.Fatalf("pending after ack %+v, %v", pend, err)
	}
	// Redis lost everything: the group comes back at the stream's start.
	rdb.Del(ctx, s.Keys().Node("n1"))
	if _, err := src.Read(ctx, false, "", 10, -1); !isNoGroup(err) {
		t.Fatalf("read without a group: %v", err)
	}
	if err := src.Recover(ctx, got[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, []NodeJob{{Node: "n1", Job: pushJob("b", 1)}}); err != nil {
		t.Fatal(err)
	}
	if got, err := src.Read(ctx, false, "", 10, -1); err != nil || len(got) != 1 || got[0].Job.ID != "b" {
		t.Fatalf("after recovery %+v, %v", got, err)
	}
}

func TestSweepBroadcastGroups_RemovesOnlyDeadIdleNodes(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	s := NewRedis(rdb, prefix, Caps{})
	for _, n := range []string{"alive", "dead1", "dead2", "dead-busy"} {
		if _, err := s.BroadcastSource(n).Join(ctx); err != nil {
			t.Fatal(err)
		}
	}
	alive := func(_ context.Context, ids []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = id == "alive"
		}
		return m, nil
	}
	read := func(group string) {
		if _, err := s.BroadcastSource(group).Read(ctx, false, "", 10, -1); err != nil {
			t.Fatal(err)
		}
	}
	read("dead1")
	read("alive")
	time.Sleep(300 * time.Millisecond)
	// Redis 7.0 creates a consumer only when it reads an entry.
	if _, err := s.Broadcast(ctx, bcJob("b")); err != nil {
		t.Fatal(err)
	}
	read("dead-busy") // its consumer was active just now
	removed, err := s.SweepBroadcastGroups(ctx, 200*time.Millisecond, 10, alive)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !reflect.DeepEqual(removed, []string{"dead1", "dead2"}) {
		t.Fatalf("swept %v; want dead1 and dead2", removed)
	}
	groups, _ := rdb.XInfoGroups(ctx, s.Keys().Broadcast()).Result()
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	if !reflect.DeepEqual(names, []string{"alive", "dead-busy"}) {
		t.Fatalf("groups left: %v", names)
	}
	// The limit bounds one sweep.
	time.Sleep(300 * time.Millisecond)
	if removed, _ := s.SweepBroadcastGroups(ctx, 200*time.Millisecond, 0, alive); len(removed) != 0 {
		t.Fatalf("limit 0 swept %v", removed)
	}
}
