package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/route"
)

type controlReq struct {
	kind   job.Kind
	reason string
}

func nodeState(t *testing.T, reg *route.Registry, id string) route.Info {
	t.Helper()
	nodes, err := reg.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n
		}
	}
	return route.Info{}
}

func TestControl_DrainRequestOnTheStreamReachesTheProcessAndTheNodeListFollowsTheDrain(t *testing.T) {
	t.Parallel()
	reqs := make(chan controlReq, 4)
	e := newEnv(t, func(c *Config) { c.DrainWindow = 2 * time.Second })
	e.control = func(k job.Kind, reason string) { reqs <- controlReq{k, reason} }
	n := e.start()
	c, _ := e.connect(70, "phone")
	testenv.Eventually(t, 5*time.Second, func() bool {
		st := nodeState(t, e.reg, e.cfg.NodeID)
		return st.State == route.StateReady && st.TCPAddr != "" && !st.HotRestart
	}, "node status %+v", nodeState(t, e.reg, e.cfg.NodeID))

	if err := route.ControlNode(context.Background(), e.streams, e.cfg.NodeID, job.KindDrain, "disk failing"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reqs:
		if r.kind != job.KindDrain || r.reason != "disk failing" {
			t.Fatalf("request %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the drain request never reached the process")
	}
	// What the process does with it (internal/stack): drain the node.
	done := make(chan error, 1)
	go func() { done <- n.Drain(context.Background(), 0) }()
	c.expectReconnect()
	testenv.Eventually(t, 5*time.Second, func() bool {
		return nodeState(t, e.reg, e.cfg.NodeID).State != route.StateReady
	}, "node still listed ready while draining")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := nodeState(t, e.reg, e.cfg.NodeID); st.State != route.StateStopped {
		t.Fatalf("after the drain the node is listed %q, want stopped", st.State)
	}
}

func TestControl_RequestOlderThanTheProcessOrExpiredIsIgnored(t *testing.T) {
	t.Parallel()
	reqs := make(chan controlReq, 4)
	e := newEnv(t, nil)
	e.control = func(k job.Kind, reason string) { reqs <- controlReq{k, reason} }
	e.start()
	now := time.Now()
	e.push(
		// Meant for an earlier process of the node (a hot restart's old one).
		job.Job{ID: "old", Kind: job.KindHotRestart, EnqueuedMS: now.Add(-time.Hour).UnixMilli(), ExpiresMS: now.Add(time.Hour).UnixMilli(), Reason: "old"},
		job.Job{ID: "expired", Kind: job.KindDrain, EnqueuedMS: now.Add(time.Second).UnixMilli(), ExpiresMS: now.Add(-time.Second).UnixMilli(), Reason: "expired"},
	)
	if err := route.ControlNode(context.Background(), e.streams, e.cfg.NodeID, job.KindDrain, "fresh"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reqs:
		if r.reason != "fresh" {
			t.Fatalf("acted on %+v, want only the fresh request", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the fresh request never arrived")
	}
}

func TestControl_HotRestartIsRefusedWithoutAnUpgradeSocket(t *testing.T) {
	t.Parallel()
	reqs := make(chan controlReq, 4)
	e := newEnv(t, nil)
	e.control = func(k job.Kind, reason string) { reqs <- controlReq{k, reason} }
	e.start()
	ctx := context.Background()
	if err := route.ControlNode(ctx, e.streams, e.cfg.NodeID, job.KindHotRestart, "upgrade"); err != nil {
		t.Fatal(err)
	}
	if err := route.ControlNode(ctx, e.streams, e.cfg.NodeID, job.KindDrain, "after"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reqs:
		if r.kind != job.KindDrain {
			t.Fatalf("a node without an upgrade socket passed on %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the drain request never arrived")
	}
}

func TestControl_OperatorKickCodeIsTheWireCode(t *testing.T) {
	if route.CodeKicked != uint16(wire.CodeKicked) || wire.CodeKicked.String() != "kicked" {
		t.Fatalf("route.CodeKicked %d, wire.CodeKicked %d (%s)", route.CodeKicked, wire.CodeKicked, wire.CodeKicked)
	}
}
