package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/wire"
)

// ErrNotConnected is returned by SendSignal while the client has no live push
// connection. Signals are ephemeral: they are never queued for later.
var ErrNotConnected = errors.New("tether client: not connected")

// Push is a transient push (a broadcast, or a push to this user) delivered
// while connected. It has no version and is not synced: a client that is
// offline when it is sent never sees it. The same push can arrive twice (a
// node catching up after a restart); ID identifies it for dedupe.
type Push struct {
	ID   string
	Body []byte // JSON
}

// Signal is an ephemeral signal from another user (typing, ...), or from
// another device of this user when From is the user's own id.
type Signal struct {
	From int64
	Kind string
	Data []byte
}

// signalQueue bounds the signals waiting for the connection's writer.
const signalQueue = 16

// pushAckQueue bounds the PushAck frames waiting for the connection's writer.
const pushAckQueue = 256

// SendSignal sends an ephemeral signal to user to: kind is 1-32 of a-z, 0-9,
// '_', '.', '-' (e.g. "typing"), data at most wire.MaxSignalData bytes. It
// returns once the signal is queued on the live connection, or
// ErrNotConnected if there is none. Delivery is best effort: the server drops
// signals over its per-session rate limit (and closes a session that keeps
// flooding), and signals to users who are offline.
func (c *Client) SendSignal(ctx context.Context, to int64, kind string, data []byte) error {
	if err := checkSignal(to, kind, data); err != nil {
		return err
	}
	cn := c.live.Load()
	if cn == nil {
		return ErrNotConnected
	}
	frame := wire.AppendSignal(nil, wire.Signal{Peer: to, Kind: kind, Data: data})
	select {
	case cn.signals <- frame:
		return nil
	case <-cn.stop:
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkSignal refuses what the server would answer with bad_frame and a close.
func checkSignal(to int64, kind string, data []byte) error {
	if to <= 0 {
		return errors.New("tether client: signal recipient must be a user id")
	}
	if len(kind) == 0 || len(kind) > 32 {
		return errors.New("tether client: signal kind must be 1-32 bytes")
	}
	for i := 0; i < len(kind); i++ {
		switch ch := kind[i]; {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_', ch == '.', ch == '-':
		default:
			return errors.New("tether client: signal kind may hold only a-z, 0-9, '_', '.', '-'")
		}
	}
	if len(data) > wire.MaxSignalData {
		return errors.New("tether client: signal data over wire.MaxSignalData")
	}
	if _, err := wire.CanonicalSignalData(data); err != nil {
		return fmt.Errorf("tether client: signal data starts like JSON but is not JSON the server forwards: %w", err)
	}
	return nil
}

// onTransient hands a Push or Signal frame to its callback. The frame's
// bytes are the reader's own copy, so the callbacks may keep them.
func (c *Client) onTransient(f wire.Frame) {
	switch f.Type {
	case wire.TypePush:
		c.stats.pushes.Add(1)
		if c.cfg.OnPush != nil {
			c.cfg.OnPush(Push{ID: f.Push.ID, Body: f.Push.Body})
		}
		c.ackPush(f.Push.ID)
	case wire.TypeSignal:
		c.stats.signals.Add(1)
		if c.cfg.OnSignal != nil {
			c.cfg.OnSignal(Signal{From: f.Signal.Peer, Kind: f.Signal.Kind, Data: f.Signal.Data})
		}
	}
}

// ackPush tells the node the push was handled (counted in the push API's
// delivery status), once OnPush has returned: in a PushAck frame on
// protocol version 1, in the next Heartbeat on version 2. It never waits
// for the connection's writer: with its queue full, the ack is dropped and
// the push is reported delivered but not acknowledged.
func (c *Client) ackPush(id string) {
	if id == "" {
		return
	}
	cn := c.live.Load()
	if cn == nil {
		return
	}
	select {
	case cn.pushAcks <- id:
	default:
	}
}

// pushEntry reads a timeline entry of kind push (a persisted push of the
// push API): its push id, to answer with PushAck once handled, and whether
// it expired (past its expires_at it is not handed to the Handler; its
// version still counts as received).
func pushEntry(e tether.Entry) (id string, expired bool) {
	if e.Kind != tether.EntryPush || len(e.Event) == 0 {
		return "", false
	}
	var ev struct {
		PushID    string    `json:"push_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if json.Unmarshal(e.Event, &ev) != nil {
		return "", false
	}
	return ev.PushID, !ev.ExpiresAt.IsZero() && time.Now().After(ev.ExpiresAt)
}
