// Package coalesce runs the Redis commands of concurrent callers in shared
// pipelines: a request that would pay a round trip of its own (a write and a
// read system call on each side, a wake-up per reply) waits instead for the
// next pipeline, which carries everything that queued while the ones before
// it were in flight. Under load one round trip serves many requests; alone,
// a request goes at once, so coalescing adds no wait of its own.
//
// A pipeline that fails fails only the callers whose commands it carried,
// and a command that fails inside a pipeline fails only its caller: every
// caller reads the results and errors of its own commands.
package coalesce

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Defaults of Runner.
const (
	// DefaultMaxInFlight is how many pipelines may be in flight at once:
	// enough that a slow reply does not stall everyone behind it, few enough
	// that under load each pipeline carries many callers.
	DefaultMaxInFlight = 4
	// DefaultMaxCalls bounds the callers of one pipeline, so one reply
	// stays a modest buffer.
	DefaultMaxCalls = 256
)

// Runner coalesces callers' commands into shared pipelines on one client.
// It is safe for concurrent use and holds no goroutine while idle.
type Runner struct {
	rdb         redis.UniversalClient
	maxInFlight int
	maxCalls    int

	mu      sync.Mutex
	pending []*call
	running int // goroutines sending pipelines
}

type call struct {
	ctx   context.Context
	queue func(redis.Pipeliner)
	done  chan struct{}
}

// New returns a Runner on rdb; maxInFlight and maxCalls of 0 take the
// defaults.
func New(rdb redis.UniversalClient, maxInFlight, maxCalls int) *Runner {
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	if maxCalls <= 0 {
		maxCalls = DefaultMaxCalls
	}
	return &Runner{rdb: rdb, maxInFlight: maxInFlight, maxCalls: maxCalls}
}

// Do has queue add the caller's commands to the next shared pipeline and
// waits until that pipeline ran. queue runs on the runner's goroutine while
// the caller waits, so it may keep the commands it adds; once Do returns
// nil, each holds its own result or error. Do returns ctx's error if ctx
// ends first (the commands may still run; their results must then not be
// read), and then never calls queue if it had not yet.
func (r *Runner) Do(ctx context.Context, queue func(redis.Pipeliner)) error {
	c := &call{ctx: ctx, queue: queue, done: make(chan struct{})}
	r.mu.Lock()
	r.pending = append(r.pending, c)
	start := r.running < r.maxInFlight
	if start {
		r.running++
	}
	r.mu.Unlock()
	if start {
		go r.run()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending is how many callers wait for a pipeline to carry them.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// run sends pipelines until nothing is pending.
func (r *Runner) run() {
	for {
		r.mu.Lock()
		n := min(len(r.pending), r.maxCalls)
		if n == 0 {
			r.running--
			r.mu.Unlock()
			return
		}
		batch := make([]*call, n)
		copy(batch, r.pending)
		rest := copy(r.pending, r.pending[n:])
		clear(r.pending[rest:])
		r.pending = r.pending[:rest]
		r.mu.Unlock()
		r.send(batch)
	}
}

// send runs one pipeline for batch and releases its callers.
func (r *Runner) send(batch []*call) {
	pipe := r.rdb.Pipeline()
	live := batch[:0:0]
	for _, c := range batch {
		if c.ctx.Err() != nil {
			close(c.done) // nobody reads it; the caller has returned
			continue
		}
		c.queue(pipe)
		live = append(live, c)
	}
	if len(live) > 0 {
		// The pipeline is not bound to any one caller's context: a caller
		// that gives up must not fail the others. The client's read and
		// write timeouts bound it.
		cmds, err := pipe.Exec(context.Background())
		failAll(cmds, err)
	}
	for _, c := range live {
		close(c.done)
	}
}

// failAll gives every command without an error of its own the pipeline's
// error when the pipeline failed as a whole (not one command's error reply,
// which Exec also returns but which is that command's alone).
func failAll(cmds []redis.Cmder, err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		for _, c := range cmds {
			if c.Err() != nil {
				return // the error of a command's own reply; the others stand
			}
		}
	}
	for _, c := range cmds {
		if c.Err() == nil {
			c.SetErr(err)
		}
	}
}
