package client

import (
	"testing"
	"time"
)

func TestBackoff_FullJitterStaysUnderGrowingCeiling(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 80 * time.Millisecond}
	ceilings := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, c := range ceilings {
		ceil := c * time.Millisecond
		for k := 0; k < 200; k++ {
			bb := backoff{min: b.min, max: b.max, attempt: i}
			if d := bb.next(); d < 0 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", i, d, ceil)
			}
		}
	}
}

func TestBackoff_JitterSpreadsDelays(t *testing.T) {
	seen := map[time.Duration]bool{}
	for k := 0; k < 50; k++ {
		b := backoff{min: time.Second, max: time.Minute, attempt: 3}
		seen[b.next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50 draws: no jitter", len(seen))
	}
}

func TestBackoff_ResetStartsOver(t *testing.T) {
	b := backoff{min: time.Millisecond, max: time.Hour}
	for i := 0; i < 20; i++ {
		b.next()
	}
	b.reset()
	if d := b.next(); d > time.Millisecond {
		t.Fatalf("after reset delay %v, want <= min", d)
	}
}
