package push

import (
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/switches"
)

// Protocol version 2 moves a client's acks onto its heartbeats: instead of
// an Ack frame per batch of entries and a PushAck frame per push, the
// client sends one Heartbeat frame per heartbeat interval carrying its
// cumulative ack and the push ids it handled since the last one (issue 13,
// "n + 4"). The node reads one frame where it read up to three, and a
// burst of n entries costs the connection n frames plus the heartbeat it
// would have sent anyway.
//
// Nothing on the server waits for an ack: the timeline ack only updates the
// device's record in Redis (acks.go), redelivery after a disconnect is the
// client's sync from its own last version, offline notifications follow
// the session's route, not acks, and "delivered" in the push API's status
// is counted when a Push or Message frame is queued. Only "acknowledged"
// depends on the client, and it arrives within one heartbeat instead of at
// once. The tests in heartbeat_test.go hold each of these.

// negotiate returns the protocol version the Welcome grants for a Hello that
// offers offered: the highest both sides speak, but version 2 only to the
// sessions the heartbeat_acks switch selects (gray release by user,
// platform, app version or node). c.subject() is complete when it runs.
func (c *conn) negotiate(offered uint8) uint8 {
	v := min(offered, wire.ProtocolVersion)
	if v >= wire.VersionHeartbeatAcks && !c.switchOn(switches.HeartbeatAcks) {
		v = wire.VersionHeartbeatAcks - 1
	}
	c.proto = v
	return v
}

// heartbeat handles a version 2 Heartbeat: the ack and push acks it carries,
// then a Pong, as for a Ping, so the client knows the connection is alive.
func (c *conn) heartbeat(h wire.Heartbeat) {
	if h.Ack > 0 {
		c.n.acks.record(c.uid, c.sess.DeviceID, h.Ack)
	}
	for _, id := range h.PushAcks {
		c.n.transient.counts.add(id, pushstatus.Acknowledged, 1) // pushstatus.go
	}
	var a [wire.HeaderSize]byte
	if c.enqueue(wire.AppendPong(a[:0], nil)) {
		c.flushNow()
	}
}
