package push

import (
	"errors"
	"fmt"

	"github.com/tetherim/tether/shared/route"
)

// Policy is the multi-device policy: which of a user's live sessions a new
// login ends. A session is identified by the access token's device id and
// platform. Whatever the policy, a new connection of the same device id
// replaces the device's old one (the registry keeps one route per device).
type Policy string

const (
	// PolicyPlatform (the default) keeps one live session per user and
	// platform: a login on ios ends the user's other ios session, but not
	// the web or desktop ones.
	PolicyPlatform Policy = "platform"
	// PolicyDevice keeps one live session per device id only: a user may be
	// connected from any number of devices on any platforms.
	PolicyDevice Policy = "device"
	// PolicySingle keeps one live session per user overall.
	PolicySingle Policy = "single"
)

// ParsePolicy returns the policy named s; "" is the default, PolicyPlatform.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case "":
		return PolicyPlatform, nil
	case PolicyPlatform, PolicyDevice, PolicySingle:
		return p, nil
	}
	return "", fmt.Errorf("push: unknown session policy %q (want platform, device or single)", s)
}

// replaces reports whether a new session cur ends the live session old.
func (p Policy) replaces(cur, old route.Session) bool {
	switch {
	case cur.DeviceID == old.DeviceID:
		return true
	case p == PolicySingle:
		return true
	case p == PolicyPlatform:
		return cur.Platform == old.Platform
	}
	return false
}

// kickReason is the text of the Kick frame a replaced session gets. It names
// the platform, so the user can be told where they signed in.
func kickReason(cur, old route.Session) string {
	if cur.DeviceID == old.DeviceID {
		return "replaced by a newer connection of this device"
	}
	plat := cur.Platform
	if plat == "" {
		plat = "unknown"
	}
	return "replaced by a new login on " + plat
}

var (
	// errUserLimit refuses a handshake over Config.MaxConnsPerUser.
	errUserLimit = errors.New("push: too many sessions for this user on this node")
	// errSuperseded refuses a handshake that finished after the handshake of
	// a connection accepted later, which it would replace: e.g. a client
	// whose handshake timed out under load reconnected, and the abandoned
	// first attempt completed late. The newer connection wins.
	errSuperseded = errors.New("push: a newer connection of this session already opened")
)

// admit enters c into the hub under c's policy: the sessions it replaces
// leave the hub at once (they get no more jobs) and are returned for the
// caller to kick. If the user would then still hold maxPerUser sessions on
// this node (0: no limit), nothing changes and errUserLimit is returned.
// Deciding under the shard lock makes two handshakes of one user at the same
// time agree: one replaces the other, and the limit holds exactly.
func (h *hub) admit(c *conn, p Policy, maxPerUser int) ([]*conn, error) {
	s := h.shard(c.uid)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.users[c.uid]
	replaced := 0
	for _, o := range list {
		if p.replaces(c.sess, o.sess) {
			if o.seq > c.seq {
				return nil, errSuperseded
			}
			replaced++
		}
	}
	if maxPerUser > 0 && len(list)-replaced >= maxPerUser {
		return nil, errUserLimit
	}
	var victims []*conn
	if replaced > 0 {
		victims = make([]*conn, 0, replaced)
		kept := list[:0]
		for _, o := range list {
			if p.replaces(c.sess, o.sess) {
				victims = append(victims, o)
				h.plat.add(o.sess.Platform, -1)
			} else {
				kept = append(kept, o)
			}
		}
		clear(list[len(kept):])
		list = kept
	}
	s.users[c.uid] = append(list, c)
	h.n.Add(int64(1 - len(victims)))
	h.plat.add(c.sess.Platform, 1)
	return victims, nil
}

// initSessions checks and completes the session settings of n.cfg and
// registers the session gauges; New calls it.
func (n *Node) initSessions() error {
	p, err := ParsePolicy(string(n.cfg.SessionPolicy))
	if err != nil {
		return err
	}
	if n.cfg.MaxConnsPerIP < 0 || n.cfg.MaxConnsPerUser < 0 {
		return errors.New("push: Config.MaxConnsPerIP and MaxConnsPerUser must not be negative")
	}
	for _, pr := range n.cfg.ConnLimitExempt {
		if !pr.IsValid() {
			return errors.New("push: Config.ConnLimitExempt holds an invalid prefix")
		}
	}
	n.cfg.SessionPolicy = p
	n.ipLimit = newIPLimiter(n.cfg.MaxConnsPerIP, n.cfg.ConnLimitExempt)
	if err := register(n.m, newSessionCollector(n)); err != nil {
		return err
	}
	if err := register(n.m, newQueuedCollector(n)); err != nil { // queued.go
		return err
	}
	n.backlog = newBacklogGauges(n.cfg.NodeID) // backlog.go
	if err := register(n.m, n.backlog.lag); err != nil {
		return err
	}
	return register(n.m, n.backlog.pending)
}
