package client

import (
	"errors"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

func TestClient_KickStopsRunWithoutReconnecting(t *testing.T) {
	h := start(t, nil)
	fc := h.push.next()
	fc.welcome(0, 0, 10000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	fc.write(wire.AppendKick(nil, wire.CodeReplaced, "replaced by a new login on desktop"))
	var ke *KickedError
	if err := h.runErr(); !errors.As(err, &ke) || ke.Code != wire.CodeReplaced || ke.Reason != "replaced by a new login on desktop" {
		t.Fatalf("Run = %v, want a KickedError with replaced", err)
	}
	// Backoff is 5-50ms here: a reconnect would have come long before this.
	select {
	case c := <-h.push.conns:
		t.Fatalf("the client reconnected after a kick (hello %+v)", c.hello)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestClient_KickDuringHandshakeStopsRun(t *testing.T) {
	h := start(t, nil)
	fc := h.push.next()
	fc.write(wire.AppendKick(nil, wire.CodeRevoked, "logged out"))
	var ke *KickedError
	if err := h.runErr(); !errors.As(err, &ke) || ke.Code != wire.CodeRevoked {
		t.Fatalf("Run = %v, want a KickedError with revoked", err)
	}
	select {
	case <-h.push.conns:
		t.Fatal("the client reconnected after a kick")
	case <-time.After(300 * time.Millisecond):
	}
}
