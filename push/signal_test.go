package push

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
)

// These tests run without any database: signals must never need one.

func TestSignal_FromNode1ReachesRecipientOnNode2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	alice := e.connectTo(n1, 1, "phone", "ios")
	bobPhone := e.connectTo(n2, 2, "phone", "android")
	bobWeb := e.connectTo(n2, 2, "browser", "web")
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{2})
		return err == nil && len(live[2]) == 2
	}, "bob's routes registered")

	alice.send(signalFrame(2, "typing", `{"conversation":"c1"}`))
	bobPhone.expectSignal(1, "typing", `{"conversation":"c1"}`)
	bobWeb.expectSignal(1, "typing", `{"conversation":"c1"}`)
	alice.send(signalFrame(2, "typing.stop", ""))
	bobPhone.expectSignal(1, "typing.stop", "")
	alice.roundTrip() // the sender gets nothing back
}

// JSON signal data reaches others in canonical form: whatever escaping the
// sender chose, a strict decoder reads it.
func TestSignal_JSONDataIsForwardedCanonical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	alice := e.connectTo(n1, 1, "phone", "ios")
	bobHere := e.connectTo(n1, 2, "phone", "ios")
	bobThere := e.connectTo(n2, 2, "browser", "web")
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{2})
		return err == nil && len(live[2]) == 2
	}, "bob's routes registered")

	alice.send(signalFrame(2, "typing", `{ "c" : "\u00e9\ud83d\ude00" } `))
	bobHere.expectSignal(1, "typing", `{"c":"é😀"}`)
	bobThere.expectSignal(1, "typing", `{"c":"é😀"}`)
	alice.send(signalFrame(2, "typing", "not json \xff")) // opaque data passes as it is
	bobHere.expectSignal(1, "typing", "not json \xff")
}

func TestSignal_ReachesLocalRecipientAndOwnOtherDevicesButNotTheSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	alicePhone := e.connectTo(n1, 1, "phone", "ios")
	aliceLaptop := e.connectTo(n1, 1, "laptop", "desktop")
	aliceWeb := e.connectTo(n2, 1, "browser", "web")
	bob := e.connectTo(n1, 2, "phone", "ios")
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{1})
		return err == nil && len(live[1]) == 3
	}, "alice's routes registered")

	alicePhone.send(signalFrame(2, "typing", "x"))
	bob.expectSignal(1, "typing", "x")
	// Typing sync: alice's other devices, on this node and the other one.
	alicePhone.send(signalFrame(1, "draft", "y"))
	aliceLaptop.expectSignal(1, "draft", "y")
	aliceWeb.expectSignal(1, "draft", "y")
	alicePhone.roundTrip()
	if got := e.counterVec("tether_push_transient_dropped_total", "kind", "signal"); got != 0 {
		t.Fatalf("signals dropped: %v", got)
	}
}

func TestSignal_RateLimitDropsExcessAndClosesAnAbuser(t *testing.T) {
	t.Parallel()
	// One token per minute: no refill during the test.
	e := newEnv(t, func(c *Config) { c.SignalRate = 1.0 / 60; c.SignalBurst = 5 })
	n := e.start()
	sender := e.connectTo(n, 1, "phone", "ios")
	other := e.connectTo(n, 3, "phone", "ios")
	recipient := e.connectTo(n, 2, "phone", "ios")
	for i := 0; i < 8; i++ {
		sender.send(signalFrame(2, "typing", ""))
	}
	sender.roundTrip() // all 8 handled; 3 over the limit were dropped, no close yet
	other.send(signalFrame(2, "marker", ""))
	for i := 0; i < 5; i++ {
		recipient.expectSignal(1, "typing", "")
	}
	recipient.expectSignal(3, "marker", "")
	if got := e.counterVec("tether_push_transient_dropped_total", "reason", "rate_limited"); got != 3 {
		t.Fatalf("rate-limited drops = %v, want 3", got)
	}
	// Two more with the bucket still empty: five drops in a row is abuse.
	sender.send(signalFrame(2, "typing", ""))
	sender.send(signalFrame(2, "typing", ""))
	sender.expectReason(wire.TypeError, wire.CodeRateLimited)
	sender.expectClosed()
	// The limit is per session: the other sender is unaffected.
	other.send(signalFrame(2, "typing", ""))
	recipient.expectSignal(3, "typing", "")
}

func TestSignal_TokenBucketRefillsAtItsRate(t *testing.T) {
	var b signalBucket
	now := time.Now().UnixNano()
	for i := 0; i < 3; i++ {
		if !b.allow(now, 10, 3) {
			t.Fatalf("burst signal %d refused", i)
		}
	}
	if b.allow(now, 10, 3) {
		t.Fatal("a fourth signal at once passed a burst of 3")
	}
	if !b.allow(now+int64(100*time.Millisecond), 10, 3) {
		t.Fatal("no token after 100ms at 10/s")
	}
	if b.allow(now+int64(110*time.Millisecond), 10, 3) {
		t.Fatal("a token appeared from 10ms at 10/s")
	}
	if b.drops != 1 {
		t.Fatalf("drops in a row = %d, want 1", b.drops)
	}
	// A long pause refills to the burst, not beyond.
	later := now + int64(time.Hour)
	for i := 0; i < 3; i++ {
		if !b.allow(later, 10, 3) {
			t.Fatalf("after a pause, signal %d refused", i)
		}
	}
	if b.allow(later, 10, 3) || b.drops != 1 {
		t.Fatalf("bucket overfilled, or drops not reset by a passed signal (drops %d)", b.drops)
	}
}

func TestSignal_MalformedOrMisplacedIsRejectedWithErrorAndClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	cases := []struct {
		name  string
		frame []byte
		code  wire.Code
	}{
		{"uppercase kind", signalFrame(2, "Typing", ""), wire.CodeBadFrame},
		{"space in kind", signalFrame(2, "is typing", ""), wire.CodeBadFrame},
		{"empty kind", signalFrame(2, "", ""), wire.CodeBadFrame},
		{"kind over 32 bytes", rawSignal(2, strings.Repeat("k", 33), ""), wire.CodeBadFrame},
		{"no peer", signalFrame(0, "typing", ""), wire.CodeBadFrame},
		{"negative peer", signalFrame(-5, "typing", ""), wire.CodeBadFrame},
		{"data over the limit", rawSignal(2, "typing", strings.Repeat("d", wire.MaxSignalData+1)), wire.CodeBadFrame},
		{"JSON data with invalid UTF-8", rawSignal(2, "typing", "{\"c\":\"\xff\xfe\"}"), wire.CodeBadFrame},
		{"JSON data with a lone surrogate", rawSignal(2, "typing", `{"c":"\ud800"}`), wire.CodeBadFrame},
		{"JSON data nested 33 deep", rawSignal(2, "typing", strings.Repeat("[", 33)+strings.Repeat("]", 33)), wire.CodeBadFrame},
		{"malformed JSON data", rawSignal(2, "typing", `{"c":`), wire.CodeBadFrame},
		{"push from a client", wire.AppendPush(nil, wire.Push{ID: "x", Body: []byte(`{}`)}), wire.CodeUnexpectedFrame},
		{"sync from a client", wire.AppendSync(nil, 5), wire.CodeUnexpectedFrame}, // a known server frame, not a bad one
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.connectTo(n, 1, testenv.Name("d"), "ios")
			c.send(tc.frame)
			c.expectReason(wire.TypeError, tc.code)
			c.expectClosed()
		})
	}
	t.Run("signal before hello", func(t *testing.T) {
		c := e.dial()
		c.send(signalFrame(2, "typing", ""))
		c.expectReason(wire.TypeError, wire.CodeUnexpectedFrame)
		c.expectClosed()
	})
}

// rawSignal encodes a Signal frame without the encoder's truncation, so
// oversized fields reach the server as a hostile client would send them.
func rawSignal(peer int64, kind, data string) []byte {
	p := make([]byte, 0, 9+len(kind)+len(data))
	p = append(p, byte(peer>>56), byte(peer>>48), byte(peer>>40), byte(peer>>32), byte(peer>>24), byte(peer>>16), byte(peer>>8), byte(peer))
	p = append(p, byte(len(kind)))
	p = append(p, kind...)
	p = append(p, data...)
	h := []byte{byte(wire.TypeSignal), byte(len(p) >> 24), byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))}
	return append(h, p...)
}

func TestSignal_ExpiredRelayedSignalIsDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	c := e.connectTo(n, 2, "phone", "ios")
	old := job.Job{Kind: job.KindSignal, From: 1, Signal: "typing", Targets: []job.Target{{UserID: 2}}, ExpiresMS: time.Now().Add(-time.Second).UnixMilli()}
	fresh := old
	fresh.Signal, fresh.ExpiresMS = "recording", time.Now().Add(time.Minute).UnixMilli()
	e.push(old, fresh)
	c.expectSignal(1, "recording", "")
}
