package push

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
)

func TestBroadcast_ReachesEverySessionOnEveryNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	e.waitJoined(n1.cfg.NodeID)
	e.waitJoined(n2.cfg.NodeID)
	clients := []*tclient{
		e.connectTo(n1, 1, "phone", "ios"),
		e.connectTo(n1, 1, "laptop", "desktop"),
		e.connectTo(n1, 2, "phone", "android"),
		e.connectTo(n2, 3, "phone", "ios"),
		e.connectTo(n2, 4, "browser", "web"),
	}
	e.broadcast("b1", `{"title":"hello all"}`)
	e.broadcast("b2", `{"title":"second"}`)
	for _, c := range clients {
		c.expectPush("b1", `{"title":"hello all"}`)
		c.expectPush("b2", `{"title":"second"}`)
	}
	for _, n := range []*Node{n1, n2} {
		testenv.Eventually(t, 5*time.Second, func() bool {
			p, err := e.rdb.XPending(context.Background(), e.streams.Keys().Broadcast(), n.cfg.NodeID).Result()
			return err == nil && p.Count == 0
		}, "node %s acks its broadcasts", n.cfg.NodeID)
	}
}

func TestBroadcast_PlatformFilterReachesOnlyThosePlatforms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	e.waitJoined(n.cfg.NodeID)
	ios := e.connectTo(n, 1, "phone", "ios")
	web := e.connectTo(n, 2, "browser", "web")
	android := e.connectTo(n, 3, "phone", "android")
	e.broadcast("mobile", `{"m":1}`, "ios", "android")
	e.broadcast("all", `{"m":2}`)
	ios.expectPush("mobile", `{"m":1}`)
	android.expectPush("mobile", `{"m":1}`)
	// web's first push is the unfiltered one: the filtered one never came.
	web.expectPush("all", `{"m":2}`)
	ios.expectPush("all", `{"m":2}`)
	android.expectPush("all", `{"m":2}`)
}

func TestBroadcast_EncodedOnceForAllSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	e.waitJoined(n.cfg.NodeID)
	const sessions = 40
	clients := make([]*tclient, sessions)
	for i := range clients {
		clients[i] = e.connectTo(n, int64(100+i), "d", "ios")
	}
	for i := 0; i < 3; i++ {
		e.broadcast(fmt.Sprint("b", i), `{}`)
	}
	for _, c := range clients {
		for i := 0; i < 3; i++ {
			c.expectPush(fmt.Sprint("b", i), `{}`)
		}
	}
	if got := n.transient.encoded.Load(); got != 3 {
		t.Fatalf("3 broadcasts to %d sessions were encoded %d times; want once each", sessions, got)
	}
	// A pass is counted once all of it is written: a moment after the
	// clients may have read it (the fan-out writes from its own goroutines).
	testenv.Eventually(t, 5*time.Second, func() bool {
		return e.counterVec("tether_push_transient_deliveries_total", "kind", "broadcast") >= 3*sessions
	}, "deliveries counted")
	if got := e.counterVec("tether_push_transient_deliveries_total", "kind", "broadcast"); got != 3*sessions {
		t.Fatalf("deliveries counter = %v, want %d", got, 3*sessions)
	}
}

func TestBroadcast_NewNodeGetsNothingSentBeforeItJoined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.broadcast("before", `{"old":true}`)
	n := e.newNode()
	n.consumeGate = make(chan struct{}) // the node joins only once its session is live
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	c := e.connectTo(n, 1, "phone", "ios")
	close(n.consumeGate)
	e.waitJoined(n.cfg.NodeID)
	e.broadcast("after", `{}`)
	c.expectPush("after", `{}`)
}

func TestBroadcast_RestartedNodeCatchesUpButNeverPastExpiryOrMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BroadcastMaxAge = time.Minute })
	ctx := context.Background()
	// The group a previous run of this node id left behind.
	if _, err := e.streams.BroadcastSource(e.cfg.NodeID).Join(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	publish := func(j job.Job) {
		if _, err := e.streams.Broadcast(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	publish(job.Job{Kind: job.KindBroadcast, PushID: "expired", Body: []byte(`{}`), ExpiresMS: now.Add(-time.Second).UnixMilli()})
	publish(job.Job{Kind: job.KindBroadcast, PushID: "ancient", Body: []byte(`{}`), EnqueuedMS: now.Add(-2 * time.Minute).UnixMilli()})
	publish(job.Job{Kind: job.KindBroadcast, PushID: "missed", Body: []byte(`{"x":1}`), ExpiresMS: now.Add(time.Minute).UnixMilli()})

	n := e.newNode()
	n.consumeGate = make(chan struct{})
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	c := e.connectTo(n, 1, "phone", "ios")
	close(n.consumeGate)
	c.expectPush("missed", `{"x":1}`)
	e.broadcast("marker", `{}`)
	c.expectPush("marker", `{}`)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return e.counterVec("tether_push_transient_dropped_total", "reason", "expired") == 2
	}, "the expired and the ancient broadcast are counted as dropped")
}

func TestBroadcast_CleanStopRemovesTheNodesGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	e.waitJoined(n.cfg.NodeID)
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	groups, err := e.rdb.XInfoGroups(context.Background(), e.streams.Keys().Broadcast()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Name == n.cfg.NodeID {
			t.Fatal("the stopped node's broadcast group is still there")
		}
	}
}

func TestBroadcast_NodeRejoinsAfterRedisLosesItsGroupWithoutSkipping(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	e.waitJoined(n.cfg.NodeID)
	c := e.connectTo(n, 1, "phone", "ios")
	e.broadcast("first", `{}`)
	c.expectPush("first", `{}`)
	// As if Redis restarted without its data, or a sweep ran while this
	// node's key had expired.
	if err := e.rdb.XGroupDestroy(context.Background(), e.streams.Keys().Broadcast(), n.cfg.NodeID).Err(); err != nil {
		t.Fatal(err)
	}
	e.broadcast("while-lost", `{}`)
	c.expectPush("while-lost", `{}`)
	e.broadcast("after", `{}`)
	c.expectPush("after", `{}`)
}

func TestBroadcast_LiveNodeSweepsGroupsOfDeadNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.streams.BroadcastSource("crashed-node").Join(ctx); err != nil { // no heartbeat key: dead
		t.Fatal(err)
	}
	n := e.start()
	e.waitJoined(n.cfg.NodeID)
	n.transient.bc.sweepIdle = 0
	n.transient.bc.sweep(ctx)
	groups, _ := e.rdb.XInfoGroups(ctx, e.streams.Keys().Broadcast()).Result()
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if !slices.Equal(names, []string{n.cfg.NodeID}) {
		t.Fatalf("groups after the sweep: %v; want only the live node's", names)
	}
}

// counterVec sums the samples of a counter whose label has value.
func (e *env) counterVec(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.m.Gatherer().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
