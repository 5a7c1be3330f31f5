package push

import (
	"context"
	"errors"
	"time"

	"github.com/tetherim/tether/shared/stream"
)

// Readiness of a node follows its real use of Redis, not a PING: a Redis
// Cluster node answering MOVED, a replica answering READONLY or a wrong
// password all answer PING, yet the node could deliver nothing. Each
// heartbeat (node key and group join) and each read of the node's stream
// tells Deps.RedisHealth how it went (shared/dephealth).

// Uses of Redis reported to the node's health.
const (
	useHeartbeat = "heartbeat" // the node key and its stream's group
	useStream    = "stream"    // reads of the node's job stream
)

// observeRedis reports one use of Redis that began at start; latency < 0
// keeps the last latency (a blocking read).
func (n *Node) observeRedis(use string, latency time.Duration, err error) {
	if n.health == nil || errors.Is(err, context.Canceled) {
		return
	}
	n.health.ObserveUse(use, latency, err)
}

// Join joins the node stream's group, reporting the outcome.
func (s nodeStream) Join(ctx context.Context) (string, error) {
	start := time.Now()
	last, err := s.Source.Join(ctx)
	s.n.observeRedis(useStream, time.Since(start), err)
	return last, err
}

// Read reads the node's stream, reporting the outcome.
func (s nodeStream) Read(ctx context.Context, pending bool, after string, count int, block time.Duration) ([]stream.Entry, error) {
	start := time.Now()
	entries, err := s.Source.Read(ctx, pending, after, count, block)
	latency := time.Since(start)
	if !pending && err == nil {
		latency = -1 // it waited for new entries
	}
	s.n.observeRedis(useStream, latency, err)
	return entries, err
}
