package push

import (
	"context"
	"sync"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// registrar retries writing the routes of sessions accepted while Redis was
// unreachable, until each succeeds or its connection closes. It also
// re-writes every route when the node finds Redis lost or forgot them (a
// restart without persistence, or an outage long enough for the node key to
// expire and relays to drop its routes).
//
// A session whose route is written late may have missed jobs: the relay
// found no route for it, so it only advanced the user's version. When the
// route is finally written, AddSession returns that version; if it is newer
// than what the client was told, the session gets a Sync frame and the
// client syncs if it is behind. A rewritten route whose version Redis no
// longer knows also gets one (Sync 0): Redis may have lost jobs queued for
// the session. A session accepted during the outage needs none for an
// unknown version: its Welcome already made it sync after those jobs.
type registrar struct {
	n    *Node
	mu   sync.Mutex
	set  map[*conn]pendingState
	wake chan struct{}
}

type pendingState struct {
	told    uint64 // the newest version the client is known to have
	rewrite bool   // the route existed before and Redis may have lost it
	gen     uint64 // bumped by every queue, so a write started before it does not count
}

func newRegistrar(n *Node) *registrar {
	return &registrar{n: n, set: map[*conn]pendingState{}, wake: make(chan struct{}, 1)}
}

// add queues c's route; told is the newest version c is known to have.
func (r *registrar) add(c *conn, told uint64) { r.queue(c, pendingState{told: told}) }

// queue queues c's route. If it is queued already, the requests merge; the
// write in progress, if any, no longer completes it (see done).
func (r *registrar) queue(c *conn, st pendingState) {
	r.mu.Lock()
	if old, ok := r.set[c]; ok {
		old.told = min(old.told, st.told)
		old.rewrite = old.rewrite || st.rewrite
		old.gen++
		r.set[c] = old
	} else {
		r.set[c] = st
	}
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

// done removes c if it was not queued again since gen.
func (r *registrar) done(c *conn, gen uint64) {
	r.mu.Lock()
	if st, ok := r.set[c]; ok && st.gen == gen {
		delete(r.set, c)
	}
	r.mu.Unlock()
}

type pendingRoute struct {
	c *conn
	pendingState
}

func (r *registrar) snapshot() []pendingRoute {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]pendingRoute, 0, len(r.set))
	for c, st := range r.set {
		out = append(out, pendingRoute{c, st})
	}
	return out
}

// run retries with backoff while sessions are waiting.
func (r *registrar) run(ctx context.Context) {
	delay := retryMin
	for {
		ps := r.snapshot()
		if len(ps) == 0 {
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
		for _, p := range ps {
			if p.c.isClosing() {
				// Its route is removed (or never written) by onClosed;
				// writing it now could overwrite a newer connection's.
				r.remove(p.c)
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, redisTimeout)
			v, known, err := p.c.register(rctx)
			cancel()
			if err != nil {
				failed = true
				break
			}
			r.done(p.c, p.gen)
			if (known && v > p.told) || (!known && p.rewrite) {
				p.c.syncTo(v)
			}
			r.n.log.Info("push: route registered after retry", "uid", p.c.uid, "conn", p.c.id,
				"current_version", v, "version_known", known)
		}
		if failed {
			delay = backoff(delay)
		} else {
			delay = retryMin
		}
	}
}

// syncTo tells the client the user's newest version (0: unknown) so it
// syncs if it is behind.
func (c *conn) syncTo(v uint64) {
	var b [wire.HeaderSize + 8]byte
	if c.enqueue(wire.AppendSync(b[:0], v)) {
		c.kick()
	}
}

// heartbeat refreshes the node key and reports whether it was missing:
// Redis lost it (restart without persistence) or it expired during an
// outage, and with it relays may have dropped this node's routes.
func (n *Node) heartbeat(ctx context.Context) (lost bool, err error) {
	start := time.Now()
	exists, err := n.rdb.Exists(ctx, n.reg.Keys().Node(n.cfg.NodeID)).Result()
	if err != nil {
		n.observeRedis(useHeartbeat, time.Since(start), err) // health.go
		return false, err
	}
	if err := n.register(ctx); err != nil {
		return false, err
	}
	return exists == 0, nil
}

// register refreshes the node key and makes sure the node's job stream and
// its consumer group exist, so jobs published from now on wait for the
// node even before its consumer first reads.
func (n *Node) register(ctx context.Context) (err error) {
	start := time.Now()
	defer func() { n.observeRedis(useHeartbeat, time.Since(start), err) }()     // health.go
	if err := n.reg.Heartbeat(ctx, n.nodeStatus(n.opState.get())); err != nil { // control.go
		return err
	}
	_, err = n.streams.NodeSource(n.cfg.NodeID).Join(ctx)
	return err
}

// reregister queues the route of every open session after Redis was
// unreachable or lost the node key. Rewriting a route that is still there
// is harmless; its version check may send a Sync the client ignores.
func (n *Node) reregister(lost bool) {
	count := 0
	for _, c := range n.snapshotConns() {
		if c.state.Load() == stateOpen && !c.isClosing() {
			n.pending.queue(c, pendingState{rewrite: true})
			count++
		}
	}
	n.log.Info("push: heartbeat recovered; rewriting routes", "sessions", count, "node_key_lost", lost)
}
