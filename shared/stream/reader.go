package stream

import (
	"context"
	"log/slog"
	"time"
)

// Reader defaults.
const (
	DefaultBatch   = 256
	DefaultBlock   = time.Second            // one wait for new entries; bounds how long a stop waits
	DefaultTimeout = 2 * time.Second        // one Join, Ack or Recover
	retryMin       = 100 * time.Millisecond // first backoff after an error
	retryMax       = 2 * time.Second        // longest backoff
)

// Reader is the one read loop of a consumer group, used by every reader of
// a stream. It joins the group (retrying until the source answers), then
// reads the entries left pending by an earlier run first and new entries
// after them, in batches. Each batch is handed to Handle and acked only
// after Handle returned, so a crash or an error leaves it pending. After a
// read or an ack fails it backs off and reads the pending entries again:
// delivery is at least once, never lost.
type Reader struct {
	Source Source
	// Handle handles one batch. Entries whose Err is set are poisoned: the
	// handler counts them, and they are acked with the batch.
	Handle func(entries []Entry)
	// BeforeRead (optional) runs before each read, e.g. housekeeping that
	// needs no goroutine of its own.
	BeforeRead func(ctx context.Context)

	Batch   int           // entries per read; DefaultBatch if 0
	Block   time.Duration // DefaultBlock if 0
	Timeout time.Duration // DefaultTimeout if 0
	Log     *slog.Logger  // nil: slog.Default()
}

// Run reads until ctx ends. A batch being handled when ctx ends is still
// acked, so it is not delivered again after a restart.
func (r *Reader) Run(ctx context.Context) {
	batch, block, timeout := r.Batch, r.Block, r.Timeout
	if batch <= 0 {
		batch = DefaultBatch
	}
	if block <= 0 {
		block = DefaultBlock
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("stream", r.Source.Name())
	last, ok := r.join(ctx, log, timeout)
	if !ok {
		return
	}
	pending, after := true, "" // pending entries of an earlier run first
	var delay time.Duration
	failing := false
	for ctx.Err() == nil {
		if r.BeforeRead != nil {
			r.BeforeRead(ctx)
		}
		entries, err := r.Source.Read(ctx, pending, after, batch, block)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				failing = true
				log.Warn("stream: read failed; retrying", "err", err)
			}
			if isNoGroup(err) {
				rctx, cancel := context.WithTimeout(ctx, timeout)
				_ = r.Source.Recover(rctx, last)
				cancel()
			}
			delay = backoff(delay)
			pending, after = true, ""
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		if failing {
			failing = false
			log.Info("stream: read recovered")
		}
		delay = 0
		if len(entries) == 0 {
			pending = false // pending entries drained, or nothing new yet
			continue
		}
		r.Handle(entries)
		if !pending {
			last = entries[len(entries)-1].ID
		}
		ids := make([]string, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err = r.Source.Ack(actx, ids)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The entries stay pending and are read again: delivered twice,
			// which clients tolerate, but never lost.
			log.Warn("stream: ack failed; entries will be read again", "count", len(ids), "err", err)
			delay = backoff(delay)
			pending, after = true, ""
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		if pending {
			after = entries[len(entries)-1].ID
		}
	}
}

// join joins the group, retrying until the source answers or ctx ends.
func (r *Reader) join(ctx context.Context, log *slog.Logger, timeout time.Duration) (string, bool) {
	var delay time.Duration
	for warned := false; ; warned = true {
		jctx, cancel := context.WithTimeout(ctx, timeout)
		last, err := r.Source.Join(jctx)
		cancel()
		if err == nil {
			if warned {
				log.Info("stream: joined")
			}
			return last, true
		}
		if ctx.Err() != nil {
			return "", false
		}
		if !warned {
			log.Warn("stream: cannot join; retrying", "err", err)
		}
		delay = backoff(delay)
		if !sleep(ctx, delay) {
			return "", false
		}
	}
}

// backoff returns the next retry delay after d.
func backoff(d time.Duration) time.Duration {
	if d < retryMin {
		return retryMin
	}
	return min(2*d, retryMax)
}

// sleep waits d or until ctx ends, reporting whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
