package push

import (
	"testing"
	"time"
)

func TestDeadlines_SweepIntervalIsAnEighthOfTheShorterTimeoutWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		hs, idle, want time.Duration
	}{
		{10 * time.Second, 75 * time.Second, time.Second},                // production defaults: capped
		{2 * time.Second, 400 * time.Millisecond, 50 * time.Millisecond}, // idle is the shorter
		{300 * time.Millisecond, time.Minute, 37500 * time.Microsecond},
		{time.Millisecond, time.Minute, minSweep},
	} {
		if got := sweepInterval(Config{HandshakeTimeout: tc.hs, IdleTimeout: tc.idle}); got != tc.want {
			t.Errorf("handshake %s idle %s: every %s, want %s", tc.hs, tc.idle, got, tc.want)
		}
	}
}

func TestDeadlines_AFrameSeenAfterTheScanKeepsTheConnection(t *testing.T) {
	n := &Node{cfg: Config{HandshakeTimeout: time.Second, IdleTimeout: time.Second}}
	now := time.Now().UnixNano()
	for _, state := range []int32{stateHandshake, stateOpen} {
		c := &conn{n: n}
		c.state.Store(state)
		c.lastSeen.Store(now) // the frame arrived between the scan and expire
		c.expire(now + int64(500*time.Millisecond))
		if c.closing {
			t.Fatalf("state %d: closed although within its deadline", state)
		}
	}
}

func TestDeadlines_StopEndsTheSweeperAndIsIdempotent(t *testing.T) {
	var never sweeper
	never.stop() // before start: nothing to stop

	n := &Node{cfg: Config{HandshakeTimeout: time.Second, IdleTimeout: time.Second}, conns: map[*conn]struct{}{}}
	var s sweeper
	s.start(n)
	s.stop()
	s.stop()
	select {
	case <-s.done:
	default:
		t.Fatal("sweeper goroutine still running after stop")
	}
}
