package push

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/route"
)

// A handshake makes two Redis round trips: the revocation check of its
// token's login session, then the claim of its route. In a connect storm
// each handshake used to make them alone, and hundreds waited for one of
// the Redis client's pooled connections (docs/benchmarks-push.md). The
// handshakes waiting now share them instead: a batch is whatever queued
// while the previous one was in Redis, and goes in one pipeline. A lone
// handshake waits for nobody, so this adds no latency when the node is
// quiet; under load a handshake waits for at most one batch ahead of it.

// maxHandshakeBatch bounds one pipeline, so a batch's replies stay small.
const maxHandshakeBatch = 512

// batcher runs batches of requests, one batch at a time, on a goroutine
// it starts when requests arrive and that ends when none are left.
type batcher[R any] struct {
	run func(*Node, []*R) // does a batch and fills in each request's result

	mu      sync.Mutex
	queue   []*R
	running bool
}

// do queues r and returns once the batch holding it has run.
func (b *batcher[R]) do(n *Node, r *R, done <-chan struct{}) {
	b.mu.Lock()
	b.queue = append(b.queue, r)
	if !b.running {
		b.running = true
		go b.loop(n)
	}
	b.mu.Unlock()
	<-done
}

func (b *batcher[R]) loop(n *Node) {
	var batch []*R
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		k := min(len(b.queue), maxHandshakeBatch)
		batch = append(batch[:0], b.queue[:k]...)
		rest := copy(b.queue, b.queue[k:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.run(n, batch)
		clear(batch)
	}
}

// revokedReq is one handshake's revocation check.
type revokedReq struct {
	sessionID string
	uid       int64
	revoked   bool
	done      chan struct{}
}

// claimReq is one handshake's route claim.
type claimReq struct {
	q    route.ClaimRequest
	res  route.ClaimResult
	done chan struct{}
}

// handshakes holds a node's two handshake batchers. The hub holds it
// (hub.go): these are the sessions on their way into the hub.
type handshakes struct {
	revoked batcher[revokedReq]
	claims  batcher[claimReq]
}

func (h *handshakes) init() {
	h.revoked.run = (*Node).checkRevoked
	h.claims.run = (*Node).claimRoutes
}

// sessionRevokedBatched is sessionRevoked (revoked.go) with the lookup
// batched: the same key, timeout and weak dependency on Redis.
func (n *Node) sessionRevokedBatched(sessionID string, uid int64) bool {
	if sessionID == "" {
		return false
	}
	r := &revokedReq{sessionID: sessionID, uid: uid, done: make(chan struct{})}
	n.hub.hs.revoked.do(n, r, r.done)
	return r.revoked
}

// checkRevoked looks the sessions of a batch up in one pipeline. A session
// whose lookup fails is accepted with a warning, as sessionRevoked does.
func (n *Node) checkRevoked(rs []*revokedReq) {
	ctx, cancel := context.WithTimeout(context.Background(), revokedCheckTimeout)
	defer cancel()
	keys := n.reg.Keys()
	pipe := n.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(rs))
	for i, r := range rs {
		cmds[i] = pipe.Exists(ctx, keys.Revoked(r.sessionID))
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, r := range rs {
		k, err := cmds[i].Result()
		if err != nil {
			n.log.Warn("push: revocation not checked; accepting the token", "uid", r.uid, "session_id", r.sessionID, "err", err)
			k = 0
		}
		r.revoked = k > 0
		close(r.done)
	}
}

// claim is Registry.Claim for c's session, batched with the other
// handshakes' claims (bounded by redisTimeout, as register's own call was).
func (n *Node) claim(c *conn) (uint64, bool, []route.Session, error) {
	r := &claimReq{q: route.ClaimRequest{UserID: c.uid, Session: c.sess}, done: make(chan struct{})}
	n.hub.hs.claims.do(n, r, r.done)
	return r.res.Version, r.res.OK, r.res.Prev, r.res.Err
}

// claimRoutes claims a batch's routes in one pipeline.
func (n *Node) claimRoutes(rs []*claimReq) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	qs := make([]route.ClaimRequest, len(rs))
	out := make([]route.ClaimResult, len(rs))
	for i, r := range rs {
		qs[i] = r.q
	}
	n.reg.ClaimMany(ctx, qs, out)
	for i, r := range rs {
		r.res = out[i]
		close(r.done)
	}
}
