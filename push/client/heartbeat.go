package client

import (
	"fmt"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// On protocol version 2 (push/PROTOCOL.md, "Version 2: acks on
// heartbeats") the client's acks ride on its heartbeats: one Heartbeat
// frame per heartbeat interval carries the delivered version and the push
// ids handled since the last one, and replaces the Ping, the Ack frames and
// the PushAck frames of version 1. The node grants version 2 to the
// sessions its heartbeat_acks switch selects and version 1 to the others;
// the client follows the Welcome.

// heartbeatAcks reports whether the connection acks on heartbeats.
func (c *conn) heartbeatAcks() bool { return c.proto >= wire.VersionHeartbeatAcks }

// heartbeatLoop is the writer of a version 2 connection.
func (c *conn) heartbeatLoop() {
	beat := time.NewTicker(c.heartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-c.stop:
			return
		case <-beat.C:
			err = c.writeHeartbeat()
		case f := <-c.signals:
			err = c.write(f, &c.stats.signalsSent)
		case id := <-c.pushAcks:
			c.unsent = append(c.unsent, id)
			if len(c.unsent) >= wire.MaxHeartbeatPushAcks {
				err = c.writeHeartbeat() // a full frame's worth: do not hold more
			}
		case <-c.ackNow: // version 1's count-based acks; version 2 waits for the beat
		}
		if err != nil {
			c.emit(event{err: fmt.Errorf("tether client: write: %w", err)})
			return
		}
	}
}

// writeHeartbeat sends a Heartbeat with the delivered version and up to a
// frame's worth of the push ids not yet reported.
func (c *conn) writeHeartbeat() error {
	v := c.delivered.Load()
	n := min(len(c.unsent), wire.MaxHeartbeatPushAcks)
	if err := c.write(wire.AppendHeartbeat(c.writeBuf[:0], wire.Heartbeat{Ack: v, PushAcks: c.unsent[:n]}), &c.stats.heartbeats); err != nil {
		return err
	}
	c.stats.pushAcks.Add(uint64(n))
	c.unsent = append(c.unsent[:0], c.unsent[n:]...)
	if v > c.acked.Load() {
		c.acked.Store(v)
	}
	return nil
}

// finalAcks reports, before a goodbye, what the server has not been told:
// an Ack (version 1) or a last Heartbeat (version 2) if anything is new.
// The writer has stopped, so push ids still queued are collected first.
func (c *conn) finalAcks() error {
	if !c.heartbeatAcks() {
		return c.flushAck()
	}
drain:
	for {
		select {
		case id := <-c.pushAcks:
			c.unsent = append(c.unsent, id)
		default:
			break drain
		}
	}
	for len(c.unsent) > 0 || c.delivered.Load() > c.acked.Load() {
		if err := c.writeHeartbeat(); err != nil {
			return err
		}
	}
	return nil
}
