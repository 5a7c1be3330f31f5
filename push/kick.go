package push

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// A kick ends a session on purpose: the client gets a Kick frame (after the
// frames already queued for it) and the connection closes. Unlike Error or
// Close, a Kick tells the client not to reconnect by itself, so two devices
// of one user never take turns replacing each other.
//
// Sessions on this node are kicked directly; sessions on other nodes through
// a job.KindKick on their node's stream.

// kickConn removes c from the hub, so no further job reaches it, and closes
// it with a Kick frame.
func (n *Node) kickConn(c *conn, code wire.Code, reason string) {
	n.hub.remove(c)
	if c.closeWith(wire.TypeKick, code, reason) {
		n.log.Info("push: session kicked", "uid", c.uid, "device", c.sess.DeviceID, "platform", c.sess.Platform,
			"conn", c.id, "code", code.String(), "reason", reason)
	}
}

// enter opens c's session in the hub under the node's policy, once its
// token is verified. The sessions c replaces on this node are kicked; if the
// user is at Config.MaxConnsPerUser on this node, c is refused with
// Error(too_many_connections).
func (n *Node) enter(c *conn, h wire.Hello) error {
	n.handshakes.Add(-1)
	if (h.DeviceID != "" && h.DeviceID != c.sess.DeviceID) || (h.Platform != "" && h.Platform != c.sess.Platform) {
		// The token is authoritative: the API minted it for one device
		// and platform. Hello's copies only help find client bugs.
		n.log.Info("push: hello disagrees with the token; using the token's", "uid", c.uid, "conn", c.id,
			"device", c.sess.DeviceID, "hello_device", h.DeviceID, "platform", c.sess.Platform, "hello_platform", h.Platform)
	}
	c.openedMS = time.Now().UnixMilli()
	victims, err := n.hub.admit(c, n.cfg.SessionPolicy, n.cfg.MaxConnsPerUser)
	if errors.Is(err, errSuperseded) {
		c.closeWith(wire.TypeKick, wire.CodeReplaced, "replaced by a newer connection")
		return err
	}
	if err != nil {
		n.m.Observe(metrics.LayerPush, "too_many_connections", 0, metrics.ClientError(err), 0)
		c.fail(wire.CodeTooManyConnections, "too many sessions of this user on this node")
		return err
	}
	for _, v := range victims {
		n.kickConn(v, wire.CodeReplaced, kickReason(c.sess, v.sess))
	}
	return nil
}

// kickElsewhere asks other nodes to kick the sessions c replaces under the
// policy. prev is the user's routes as they were before c's was written
// (route.Registry.Claim), so of two logins racing on two nodes only the later
// one kicks. Each job spares c's connection (KeepConn) and only kicks
// sessions opened before it was issued (EnqueuedMS), so a job read late,
// e.g. after its node restarted, cannot end a newer session.
func (n *Node) kickElsewhere(c *conn, prev []route.Session) {
	var jobs []stream.NodeJob
	now := time.Now().UnixMilli()
	for _, s := range prev {
		if s.NodeID == n.cfg.NodeID || s.ConnID == c.id || !n.cfg.SessionPolicy.replaces(c.sess, s) {
			continue // local sessions were decided by hub.admit
		}
		jobs = append(jobs, stream.NodeJob{Node: s.NodeID, Job: job.Job{
			ID:         "kick-" + c.id,
			Kind:       job.KindKick,
			Targets:    []job.Target{{UserID: c.uid, DeviceID: s.DeviceID}},
			EnqueuedMS: now,
			Code:       uint16(wire.CodeReplaced),
			Reason:     kickReason(c.sess, s),
			KeepConn:   c.id,
			// The platform pins the job to the session seen in the route:
			// if the device came back on another platform, it is spared.
			Platforms: []string{s.Platform},
		}})
		n.log.Info("push: kicking replaced session on another node", "uid", c.uid, "conn", c.id,
			"node_of_old", s.NodeID, "device_of_old", s.DeviceID, "platform", s.Platform)
	}
	if len(jobs) == 0 {
		return
	}
	n.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		defer cancel()
		if err := n.streams.Publish(ctx, jobs); err != nil {
			// The old session stays until its device's next login or
			// disconnect: the policy is best effort across nodes when
			// Redis fails, never a reason to refuse the new session.
			n.log.Warn("push: kick jobs not sent", "uid", c.uid, "conn", c.id, "jobs", len(jobs), "err", err)
		}
	})
}

// kickJob ends the local sessions a job.KindKick names: each target's
// sessions (only its device's if it names one), only on j.Platforms if set,
// never the connection j.KeepConn, and never a session opened after the job
// was issued. A job without a code kicks with CodeRevoked.
func (n *Node) kickJob(j job.Job, entry string) {
	done := n.m.Begin(metrics.LayerJob, string(job.KindKick), jobBudget, slog.String("entry", entry))
	code := wire.Code(j.Code)
	if code == wire.CodeNormal {
		code = wire.CodeRevoked
	}
	reason := j.Reason
	if reason == "" {
		reason = "session ended"
	}
	var found []*conn
	kicked := 0
	for _, t := range j.Targets {
		found = n.hub.appendSessions(found[:0], t.UserID, t.DeviceID)
		for _, s := range found {
			switch {
			case s.id == j.KeepConn:
			case len(j.Platforms) > 0 && !slices.Contains(j.Platforms, s.sess.Platform):
			case j.EnqueuedMS > 0 && s.openedMS > j.EnqueuedMS:
			default:
				n.kickConn(s, code, reason)
				kicked++
			}
		}
	}
	var err error
	if len(j.Targets) == 0 {
		err = errors.New("push: kick job without targets")
	}
	done(err)
	n.log.Debug("push: kick job handled", "job", j.ID, "entry", entry, "kicked", kicked)
}
