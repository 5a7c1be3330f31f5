package push

import "github.com/tetherim/tether/shared/switches"

// subject is who a live switch is evaluated for on this session: its user,
// the platform its token names, the app version its Hello declared and
// this node. Rules are evaluated per session or per frame with it.
func (c *conn) subject() switches.Subject {
	return switches.Subject{UserID: c.uid, Platform: c.sess.Platform, AppVersion: c.app.Value(), Node: c.n.cfg.NodeID}
}

// switchOn reports whether the switch name applies to c's session.
func (c *conn) switchOn(name string) bool { return c.n.sw.Enabled(name, c.subject()) }
