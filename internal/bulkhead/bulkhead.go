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

	"golang.org/x/time/rate"

	"github.com/tetherim/tether"
)

// Size is how big one pool is.
type Size struct {
	Workers int // work running at once, at least 1
	Queue   int // work waiting for a worker at most; 0: none waits, the excess is shed at once
	// Rate is the most work admitted per second (a token bucket with a
	// burst of Workers+Queue); 0: no bound but the workers. Workers bound
	// the work in flight, not the CPU it takes: work that mostly waits on
	// Redis finishes fast, so a flooded pool with free CPU keeps its
	// workers busy and takes the CPU other businesses need. The rate
	// bounds that share, and what it refuses costs a token check.
	Rate float64
}

// Pool bounds the concurrency of one business. It is safe for concurrent use.
type Pool struct {
	name  string
	size  Size
	wait  time.Duration
	slots chan struct{}
	limit *rate.Limiter // nil: no rate bound
	shedE error         // the one error every refusal returns

	queued atomic.Int64
	held   atomic.Int64 // refusals waiting to be answered (HoldRefusal)
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
	p := &Pool{name: name, size: size, wait: wait, slots: make(chan struct{}, size.Workers)}
	if size.Rate > 0 {
		p.limit = rate.NewLimiter(rate.Limit(size.Rate), size.Workers+size.Queue)
	}
	// Made once: a refusal allocates nothing.
	p.shedE = &tether.Error{
		Code:       tether.EOVERLOADED,
		Message:    fmt.Sprintf("The server is at capacity for %s; retry after Retry-After.", name),
		RetryAfter: p.RetryAfter(),
	}
	return p
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
// which must be called exactly once when the work is done. Work over the
// pool's rate is refused at once. When every worker is busy it waits in
// the queue; when the queue is full, or the wait runs out, or ctx ends
// first, it returns an EOVERLOADED error without taking anything.
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	if p.limit != nil && !p.limit.Allow() {
		return nil, p.overloaded()
	}
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

// MaxHeld bounds the refusals a pool holds at once (HoldRefusal); beyond
// it a refusal is answered at once. Each held refusal is a parked
// goroutine and an open connection, no CPU.
const MaxHeld = 1024

// MaxHold caps how long HoldRefusal holds a refusal, for pools with a long
// queue wait: less than any Retry-After.
const MaxHold = time.Second

// HoldRefusal waits, before a refusal is answered, until the queue wait (at
// most MaxHold) has passed since the work arrived (or ctx ends). A request shed because the
// queue is full or the rate is over would otherwise be answered in
// microseconds, and a runaway caller that sends again at once, on each of
// its connections, would make the pool shed as fast as the CPU lets it:
// the parse and answer of a flood is CPU the other businesses lack. Held,
// a caller with n connections is refused at most n times per queue wait,
// which is no later than work that waited in the queue is refused, and a
// well-behaved client waits for Retry-After (a second or more) anyway.
func (p *Pool) HoldRefusal(ctx context.Context, since time.Time) {
	d := min(p.wait, MaxHold) - time.Since(since)
	if d <= 0 {
		return
	}
	if p.held.Add(1) > MaxHeld {
		p.held.Add(-1)
		return
	}
	defer p.held.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
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

// Overloaded returns the error every refusal of the pool returns (without
// counting one).
func (p *Pool) Overloaded() error { return p.shedE }

func (p *Pool) overloaded() error {
	p.shed.Add(1)
	return p.shedE
}
