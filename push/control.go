package push

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
)

// Operator control of a node from elsewhere (the ops page on an API
// process): the request travels as a job.KindDrain or job.KindHotRestart on
// the node's own job stream (route.ControlNode), the one channel every node
// already reads and the API already writes, so it needs no new port, and it
// reaches a node wherever it runs. The node does not act alone: draining
// ends the process's work and a hot restart starts a new process, both the
// business of whatever runs the node, so it hands the request to
// Deps.Control. The node's state (ready, draining, hot-restarting, stopped)
// is what the registry's node list shows (shared/route/nodestate.go).

// ControlFunc receives an operator's request to drain or hot-restart the
// node (kind job.KindDrain or job.KindHotRestart) with its reason. It runs on
// the stream consumer: it must not block, and must not Stop the node itself
// (start that in a goroutine).
type ControlFunc func(kind job.Kind, reason string)

// state is the node's operating state as published in its status.
type state struct{ v atomic.Pointer[string] }

func (s *state) get() string {
	if p := s.v.Load(); p != nil {
		return *p
	}
	return route.StateReady
}

func (s *state) set(v string) { s.v.Store(&v) }

// nodeStatus is the node's Info as its status now, in state st.
func (n *Node) nodeStatus(st string) route.Info {
	i := n.info
	i.State, i.Sessions, i.HotRestart = st, n.Sessions(), n.cfg.UpgradeSocket != ""
	return i
}

// publishState records a change of state at once, not at the next
// heartbeat; a failure only delays what the node list shows.
func (n *Node) publishState(ctx context.Context, st string) {
	n.opState.set(st)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	if err := n.reg.SetNodeStatus(ctx, n.nodeStatus(st)); err != nil {
		n.log.Warn("push: node status not recorded", "state", st, "err", err)
	}
}

// controlJob handles a job.KindDrain or job.KindHotRestart. A job enqueued
// before this process started is ignored: it was meant for an earlier
// process of the node (read late after a crash, or by the new process of
// the hot restart it asked for), and acting on it would repeat the request.
func (n *Node) controlJob(j job.Job, entry string) {
	done := n.m.Begin(metrics.LayerJob, string(j.Kind), jobBudget, slog.String("entry", entry))
	var err error
	switch {
	case j.Expired(time.Now().UnixMilli()):
		n.log.Warn("push: operator request expired before it was read; ignored", "kind", j.Kind, "job", j.ID)
	case j.EnqueuedMS*int64(time.Millisecond) < n.startNS:
		n.log.Info("push: operator request older than this process; ignored", "kind", j.Kind, "job", j.ID)
	case n.control == nil:
		err = errors.New("push: this process takes no operator requests")
		n.log.Warn("push: operator request refused: this process takes none", "kind", j.Kind, "job", j.ID)
	case j.Kind == job.KindHotRestart && n.cfg.UpgradeSocket == "":
		err = errors.New("push: hot restart needs an upgrade socket")
		n.log.Warn("push: operator asked for a hot restart, but this node has no upgrade socket", "job", j.ID)
	default:
		n.log.Info("push: operator request", "kind", j.Kind, "job", j.ID, "reason", j.Reason)
		n.control(j.Kind, j.Reason)
	}
	done(err)
}
