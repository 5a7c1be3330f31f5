package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/route"
)

func pushJob(id, body string, platforms []string, targets ...job.Target) job.Job {
	return job.Job{ID: id, Kind: job.KindPush, PushID: id, Body: []byte(body), Platforms: platforms, Targets: targets}
}

func TestPush_ReachesOnlyTheTargetedSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	aPhone := e.connectTo(n, 1, "phone", "ios")
	aWeb := e.connectTo(n, 1, "browser", "web")
	bPhone := e.connectTo(n, 2, "phone", "android")
	bTablet := e.connectTo(n, 2, "tablet", "ios")
	other := e.connectTo(n, 3, "phone", "ios")

	e.push(
		pushJob("p1", `{"n":1}`, nil, job.Target{UserID: 1}, job.Target{UserID: 2, DeviceID: "tablet"}),
		pushJob("p2", `{"n":2}`, []string{"ios"}, job.Target{UserID: 1}, job.Target{UserID: 2}),
		pushJob("p3", `{"n":3}`, nil, job.Target{UserID: 1}, job.Target{UserID: 2}, job.Target{UserID: 3}),
	)
	aPhone.expectPush("p1", `{"n":1}`)
	aPhone.expectPush("p2", `{"n":2}`)
	aPhone.expectPush("p3", `{"n":3}`)
	aWeb.expectPush("p1", `{"n":1}`)
	aWeb.expectPush("p3", `{"n":3}`) // not ios: no p2
	bTablet.expectPush("p1", `{"n":1}`)
	bTablet.expectPush("p2", `{"n":2}`)
	bTablet.expectPush("p3", `{"n":3}`)
	bPhone.expectPush("p3", `{"n":3}`) // not the targeted device, not ios
	other.expectPush("p3", `{"n":3}`)  // not a target of p1 or p2
	testenv.Eventually(t, 5*time.Second, func() bool { return e.pending() == 0 }, "push jobs acked")
	if got := e.counterVec("tether_push_transient_deliveries_total", "kind", "push"); got != 3+2+5 {
		t.Fatalf("push deliveries = %v, want 10", got)
	}
}

func TestPush_ExpiredIsNeverDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	c := e.connectTo(n, 1, "phone", "ios")
	late := pushJob("late", `{}`, nil, job.Target{UserID: 1})
	late.ExpiresMS = time.Now().Add(-time.Second).UnixMilli()
	fresh := pushJob("fresh", `{}`, nil, job.Target{UserID: 1})
	fresh.ExpiresMS = time.Now().Add(time.Minute).UnixMilli()
	e.push(late, fresh)
	c.expectPush("fresh", `{}`)
	if got := e.counterVec("tether_push_transient_dropped_total", "reason", "expired"); got != 1 {
		t.Fatalf("expired drops = %v, want 1", got)
	}
}

// publishPush routes a push job to the nodes of its targets' live sessions,
// as the push API does, and returns how many sessions it was routed to.
func (e *env) publishPush(ctx context.Context, j job.Job) (int, error) {
	uids := make([]int64, 0, len(j.Targets))
	for _, t := range j.Targets {
		uids = append(uids, t.UserID)
	}
	live, err := e.reg.Lookup(ctx, uids)
	if err != nil {
		return 0, err
	}
	plan := route.PlanByNode(j, live, nil)
	n := 0
	for _, nj := range plan {
		n += len(nj.Job.Targets)
	}
	return n, e.streams.Publish(ctx, plan)
}

func TestPublishPush_ReachesTargetsAcrossNodesOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	a := e.connectTo(n1, 1, "phone", "ios")
	b := e.connectTo(n2, 2, "phone", "ios")
	bWeb := e.connectTo(n2, 2, "browser", "web")
	c := e.connectTo(n2, 3, "phone", "ios")
	ctx := context.Background()
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(ctx, []int64{1, 2, 3})
		return err == nil && len(live[1]) == 1 && len(live[2]) == 2 && len(live[3]) == 1
	}, "routes registered")
	sent, err := e.publishPush(ctx, pushJob("x", `{"x":1}`, []string{"ios"}, job.Target{UserID: 1}, job.Target{UserID: 2}))
	if err != nil || sent != 2 {
		t.Fatalf("PublishPush = %d, %v; want 2 sessions", sent, err)
	}
	a.expectPush("x", `{"x":1}`)
	b.expectPush("x", `{"x":1}`)
	if _, err := e.publishPush(ctx, pushJob("y", `{}`, nil, job.Target{UserID: 2}, job.Target{UserID: 3})); err != nil {
		t.Fatal(err)
	}
	bWeb.expectPush("y", `{}`) // web was filtered out of x
	c.expectPush("y", `{}`)    // 3 was not a target of x
}
