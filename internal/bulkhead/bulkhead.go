// Package bulkhead keeps one business from sinking the others. Each
// business of the API (1:1 sends, group sends, sync and history reads, the
// push API, broadcasts, webhook delivery, the relay, everything else) runs
// in its own Pool: at most Workers at once, at most Queue more waiting, each
// for at most the queue wait. Work beyond that is shed at once with
// tether.EOVERLOADED and a Retry-After, so a saturated business answers
// fast instead of taking the threads, connections and time of the rest.
//
// Workers is also the business's share of database and Redis connections:
// a request holds at most one of each at a time, and the API sizes both
// client pools to the sum of every pool's workers (Set.Conns), so a
// business that holds a slot never waits for a connection another business
// took. One shared pool sized that way isolates as well as separate pools
// would, without multiplying idle connections.
package bulkhead

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether"
)

// Size is how big one pool is.
type Size struct {
	Workers int // work running at once, at least 1
	Queue   int // work waiting for a worker at most; 0: none waits, the excess is shed at once
}

// Pool bounds the concurrency of one business. It is safe for concurrent use.
type Pool struct {
	name  string
	size  Size
	wait  time.Duration
	slots chan struct{}

	queued atomic.Int64
	shed   atomic.Uint64
}

// NewPool returns a pool named name (a label value of its metrics). Work
// that finds every worker busy waits in the queue for at most wait.
func NewPool(name string, size Size, wait time.Duration) *Pool {
	if size.Workers < 1 {
		size.Workers = 1
	}
	if size.Queue < 0 {
		size.Queue = 0
	}
	return &Pool{name: name, size: size, wait: wait, slots: make(chan struct{}, size.Workers)}
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Size returns the pool's size.
func (p *Pool) Size() Size { return p.size }

// Busy returns the work running now.
func (p *Pool) Busy() int { return len(p.slots) }

// Queued returns the work waiting for a worker now.
func (p *Pool) Queued() int { return int(p.queued.Load()) }

// Shed returns how much work the pool has refused since it was made.
func (p *Pool) Shed() uint64 { return p.shed.Load() }

// Acquire takes a worker for one unit of work and returns its release,
// which must be called exactly once when the work is done. When every
// worker is busy it waits in the queue; when the queue is full, or the
// wait runs out, or ctx ends first, it returns an EOVERLOADED error
// without taking anything.
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	default:
	}
	if p.queued.Add(1) > int64(p.size.Queue) {
		p.queued.Add(-1)
		return nil, p.overloaded()
	}
	defer p.queued.Add(-1)
	t := time.NewTimer(p.wait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, p.overloaded()
}

// TryAcquire takes a worker if one is free, without queueing or counting a
// refusal: for background work (webhook delivery) that has its own queue
// and only asks for as many workers as are free.
func (p *Pool) TryAcquire() (release func(), ok bool) {
	select {
	case p.slots <- struct{}{}:
		return p.release, true
	default:
		return nil, false
	}
}

// Free returns how many workers are free now.
func (p *Pool) Free() int { return cap(p.slots) - len(p.slots) }

func (p *Pool) release() { <-p.slots }

// RetryAfter is what a shed caller is told to wait: the queue wait, at
// least a second (Retry-After counts whole seconds).
func (p *Pool) RetryAfter() time.Duration { return max(p.wait, time.Second) }

func (p *Pool) overloaded() error {
	p.shed.Add(1)
	return &tether.Error{
		Code:       tether.EOVERLOADED,
		Message:    fmt.Sprintf("The server is at capacity for %s; retry after Retry-After.", p.name),
		RetryAfter: p.RetryAfter(),
	}
}
