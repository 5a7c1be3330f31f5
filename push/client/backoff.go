package client

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect delays: exponential growth from min to max with
// full jitter, so a fleet of clients dropped by one node does not return in
// lockstep.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	ceil := b.min
	for i := 0; i < b.attempt && ceil < b.max; i++ {
		ceil *= 2
	}
	if ceil > b.max || ceil <= 0 {
		ceil = b.max
	}
	b.attempt++
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// reset starts over after a connection that proved healthy.
func (b *backoff) reset() { b.attempt = 0 }
