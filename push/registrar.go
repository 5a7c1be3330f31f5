package push

import (
	"context"
	"sync"
)

// registrar retries writing the routes of sessions accepted while Redis was
// unreachable, until each succeeds or its connection closes.
type registrar struct {
	n    *Node
	mu   sync.Mutex
	set  map[*conn]struct{}
	wake chan struct{}
}

func newRegistrar(n *Node) *registrar {
	return &registrar{n: n, set: map[*conn]struct{}{}, wake: make(chan struct{}, 1)}
}

func (r *registrar) add(c *conn) {
	r.mu.Lock()
	r.set[c] = struct{}{}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *registrar) remove(c *conn) {
	r.mu.Lock()
	delete(r.set, c)
	r.mu.Unlock()
}

func (r *registrar) snapshot() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*conn, 0, len(r.set))
	for c := range r.set {
		out = append(out, c)
	}
	return out
}

// run retries with backoff while sessions are waiting.
func (r *registrar) run(ctx context.Context) {
	delay := retryMin
	for {
		cs := r.snapshot()
		if len(cs) == 0 {
			delay = retryMin
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
				continue
			}
		}
		if !sleep(ctx, delay) {
			return
		}
		failed := false
		for _, c := range cs {
			rctx, cancel := context.WithTimeout(ctx, redisTimeout)
			_, _, err := c.register(rctx)
			cancel()
			if err != nil {
				failed = true
				break
			}
			r.remove(c)
			r.n.log.Info("push: route registered after retry", "uid", c.uid, "conn", c.id)
		}
		if failed {
			delay = backoff(delay)
		} else {
			delay = retryMin
		}
	}
}
