package blockmirror

import (
	"context"
	"log/slog"
	"time"
)

// KeepInterval is how often Keep checks that the mirror is complete: the
// longest a Redis that lost its data leaves signals between users refused.
const KeepInterval = 5 * time.Second

// Keep rebuilds the mirror from src whenever it is incomplete (first start,
// Redis restarted empty), checking every interval, until ctx ends. Every API
// process runs it; the lease lets one of them rebuild at a time.
func (m *Mirror) Keep(ctx context.Context, src Source, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = KeepInterval
	}
	failing := false
	for {
		start := time.Now()
		done, err := m.Rebuild(ctx, src)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("blockmirror: cannot rebuild the mirror of blocks; signals between users are refused meanwhile", "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				log.Info("blockmirror: mirror of blocks reachable again")
			}
			failing = false
			if done {
				log.Info("blockmirror: mirror of blocks rebuilt from the database", "took", time.Since(start).Round(time.Millisecond))
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
