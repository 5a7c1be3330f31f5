package route

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

func TestPlanByNode_OneEntryPerNodeNamingOnlyMatchingSessions(t *testing.T) {
	live := map[int64][]Session{
		1: {{DeviceID: "a", NodeID: "n2", Platform: "ios"}, {DeviceID: "b", NodeID: "n1", Platform: "web"}},
		2: {{DeviceID: "c", NodeID: "n2", Platform: "ios"}, {DeviceID: "d", NodeID: "n2", Platform: "android"}},
		3: {{DeviceID: "e", NodeID: "n3", Platform: "ios"}}, // not a target
	}
	j := job.Job{ID: "p", Kind: job.KindPush, Body: []byte(`{}`), Targets: []job.Target{{UserID: 1}, {UserID: 2}, {UserID: 1}}}
	got := PlanByNode(j, live, nil)
	want := []stream.NodeJob{
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

func TestPlanByNode_PublishedToEachNodeWithALiveTargetOnly(t *testing.T) {
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

	live, err := r.Lookup(ctx, []int64{1, 2, 3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	plan := PlanByNode(job.Job{ID: "p1", Kind: job.KindPush, PushID: "p1", Body: []byte(`{"x":1}`),
		Targets: []job.Target{{UserID: 1}, {UserID: 2}, {UserID: 3}, {UserID: 4}, {UserID: 5}}}, live, nil)
	streams := stream.NewRedis(rdb, prefix, stream.Caps{})
	if err := streams.Publish(ctx, plan); err != nil {
		t.Fatal(err)
	}
	read := func(node string) []job.Job {
		entries, err := rdb.XRange(ctx, streams.Keys().Node(node), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []job.Job
		for _, e := range entries {
			j, err := job.Decode([]byte(e.Values[stream.Field].(string)))
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
	if l := rdb.Exists(ctx, streams.Keys().Node("gone")).Val(); l != 0 {
		t.Fatal("a dead node's stream got a job")
	}
}
