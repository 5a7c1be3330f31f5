package route

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

func TestPlanByNode_OneEntryPerNodeNamingOnlyMatchingSessions(t *testing.T) {
	live := map[int64][]Session{
		1: {{DeviceID: "a", NodeID: "n2", Platform: "ios"}, {DeviceID: "b", NodeID: "n1", Platform: "web"}},
		2: {{DeviceID: "c", NodeID: "n2", Platform: "ios"}, {DeviceID: "d", NodeID: "n2", Platform: "android"}},
		3: {{DeviceID: "e", NodeID: "n3", Platform: "ios"}}, // not a target
	}
	j := job.Job{ID: "p", Kind: job.KindPush, Body: []byte(`{}`), Targets: []job.Target{{UserID: 1}, {UserID: 2}, {UserID: 1}}}
	got := PlanByNode(j, live, nil)
	want := []NodeJob{
		{Node: "n1", Job: withTargets(j, job.Target{UserID: 1, DeviceID: "b"})},
		{Node: "n2", Job: withTargets(j, job.Target{UserID: 1, DeviceID: "a"}, job.Target{UserID: 2, DeviceID: "c"}, job.Target{UserID: 2, DeviceID: "d"})},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", got, want)
	}

	// Platforms, a target's device and keep all narrow the sessions.
	j.Platforms = []string{"ios"}
	j.Targets = []job.Target{{UserID: 1}, {UserID: 2, DeviceID: "d"}}
	if got := PlanByNode(j, live, nil); len(got) != 1 || !reflect.DeepEqual(got[0].Job.Targets, []job.Target{{UserID: 1, DeviceID: "a"}}) {
		t.Fatalf("platform and device filter: %+v", got)
	}
	j.Platforms = nil
	j.Targets = []job.Target{{UserID: 1}}
	got = PlanByNode(j, live, func(uid int64, s Session) bool { return s.NodeID != "n1" })
	if len(got) != 1 || got[0].Node != "n2" {
		t.Fatalf("keep: %+v", got)
	}
}

func withTargets(j job.Job, ts ...job.Target) job.Job {
	j.Targets = ts
	return j
}

func TestPublishPush_WritesOneEntryToEachNodeWithALiveTarget(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(uid int64, s Session) {
		if _, _, err := r.AddSession(ctx, uid, s); err != nil {
			t.Fatal(err)
		}
	}
	add(1, Session{DeviceID: "a", NodeID: "n1", Platform: "ios", ConnID: "c1"})
	add(2, Session{DeviceID: "b", NodeID: "n1", Platform: "web", ConnID: "c2"})
	add(3, Session{DeviceID: "c", NodeID: "n2", Platform: "ios", ConnID: "c3"})
	add(4, Session{DeviceID: "d", NodeID: "gone", Platform: "ios", ConnID: "c4"}) // dead node

	n, err := r.PublishPush(ctx, job.Job{ID: "p1", Kind: job.KindPush, PushID: "p1", Body: []byte(`{"x":1}`),
		Targets: []job.Target{{UserID: 1}, {UserID: 2}, {UserID: 3}, {UserID: 4}, {UserID: 5}}}, 0)
	if err != nil || n != 3 {
		t.Fatalf("PublishPush = %d, %v; want 3 sessions", n, err)
	}
	read := func(node string) []job.Job {
		entries, err := rdb.XRange(ctx, r.Keys().Stream(node), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []job.Job
		for _, e := range entries {
			j, err := job.Decode([]byte(e.Values[job.Field].(string)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, j)
		}
		return out
	}
	n1, n2 := read("n1"), read("n2")
	if len(n1) != 1 || len(n1[0].Targets) != 2 || n1[0].PushID != "p1" || n1[0].EnqueuedMS == 0 {
		t.Fatalf("n1 stream: %+v", n1)
	}
	if len(n2) != 1 || !reflect.DeepEqual(n2[0].Targets, []job.Target{{UserID: 3, DeviceID: "c"}}) {
		t.Fatalf("n2 stream: %+v", n2)
	}
	if l := rdb.Exists(ctx, r.Keys().Stream("gone")).Val(); l != 0 {
		t.Fatal("a dead node's stream got a job")
	}
	if _, err := r.PublishPush(ctx, job.Job{Kind: job.KindBroadcast}, 0); err == nil {
		t.Fatal("PublishPush took a broadcast job")
	}
}

func TestPublishBroadcast_TrimsTheStreamToItsCap(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	// MAXLEN ~ trims whole radix-tree nodes (100 entries by default), so
	// write well past the cap.
	for i := 0; i < 500; i++ {
		if _, err := r.PublishBroadcast(ctx, job.Job{ID: "b", Kind: job.KindBroadcast, Body: []byte(`{}`)}, 10); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.XLen(ctx, r.Keys().Broadcast()).Val(); n >= 500 || n < 10 {
		t.Fatalf("broadcast stream holds %d entries; want trimmed to about 10", n)
	}
	if _, err := r.PublishBroadcast(ctx, job.Job{Kind: job.KindPush}, 0); err == nil {
		t.Fatal("PublishBroadcast took a push job")
	}
}

func TestBroadcastGroups_JoinAtTheEndLeaveAndRejoin(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	old, err := r.PublishBroadcast(ctx, job.Job{ID: "old", Kind: job.KindBroadcast, Body: []byte(`{}`)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	last, err := r.JoinBroadcast(ctx, "n1")
	if err != nil || last != old {
		t.Fatalf("JoinBroadcast = %q, %v; want the stream's end %q", last, err, old)
	}
	// Nothing sent before the join is delivered.
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "n1", Consumer: "n1", Streams: []string{r.Keys().Broadcast(), ">"}, Block: -1}).Result()
	if err != redis.Nil || len(res) != 0 {
		t.Fatalf("a fresh group read %v, %v", res, err)
	}
	// Joining again keeps the position.
	fresh, _ := r.PublishBroadcast(ctx, job.Job{ID: "new", Kind: job.KindBroadcast, Body: []byte(`{}`)}, 0)
	if again, err := r.JoinBroadcast(ctx, "n1"); err != nil || again != old {
		t.Fatalf("second JoinBroadcast = %q, %v; want %q", again, err, old)
	}
	if err := r.LeaveBroadcast(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := r.RejoinBroadcast(ctx, "n1", old); err != nil {
		t.Fatal(err)
	}
	res, err = rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "n1", Consumer: "n1", Streams: []string{r.Keys().Broadcast(), ">"}, Block: -1}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != 1 || res[0].Messages[0].ID != fresh {
		t.Fatalf("after rejoining at %s: %v, %v; want only %s", old, res, err, fresh)
	}
	if err := r.LeaveBroadcast(ctx, "never-joined"); err != nil {
		t.Fatalf("LeaveBroadcast of an unknown group: %v", err)
	}
	if err := NewRegistry(rdb, prefix+"empty:", time.Minute).LeaveBroadcast(ctx, "n1"); err != nil {
		t.Fatalf("LeaveBroadcast without a stream: %v", err)
	}
}

func TestSweepBroadcastGroups_RemovesOnlyDeadIdleNodes(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"alive", "dead1", "dead2", "dead-busy"} {
		if _, err := r.JoinBroadcast(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Heartbeat(ctx, Info{ID: "alive"}); err != nil {
		t.Fatal(err)
	}
	read := func(group string) {
		err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: group, Streams: []string{r.Keys().Broadcast(), ">"}, Block: -1}).Err()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	read("dead1")
	read("alive")
	time.Sleep(300 * time.Millisecond)
	// Redis 7.0 creates a consumer only when it reads an entry.
	if _, err := r.PublishBroadcast(ctx, job.Job{ID: "b", Kind: job.KindBroadcast, Body: []byte(`{}`)}, 0); err != nil {
		t.Fatal(err)
	}
	read("dead-busy") // its consumer was active just now
	removed, err := r.SweepBroadcastGroups(ctx, 200*time.Millisecond, 10)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !reflect.DeepEqual(removed, []string{"dead1", "dead2"}) {
		t.Fatalf("swept %v; want dead1 and dead2", removed)
	}
	groups, _ := rdb.XInfoGroups(ctx, r.Keys().Broadcast()).Result()
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
	if removed, _ := r.SweepBroadcastGroups(ctx, 200*time.Millisecond, 0); len(removed) != 0 {
		t.Fatalf("limit 0 swept %v", removed)
	}
}
