package route

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// QueuedLookup is a Lookup queued on a caller's pipeline.
type QueuedLookup struct {
	r    *Registry
	uids []int64
	gets []*redis.MapStringStringCmd
}

// QueueLookup queues the reads of Lookup on pipe, for a caller that sends
// other commands in the same round trip (the push API claims idempotency
// keys with it). Call Sessions once pipe has run.
func (r *Registry) QueueLookup(ctx context.Context, pipe redis.Pipeliner, uids []int64) *QueuedLookup {
	l := &QueuedLookup{r: r, uids: uids, gets: make([]*redis.MapStringStringCmd, len(uids))}
	for i, uid := range uids {
		l.gets[i] = pipe.HGetAll(ctx, r.keys.Route(uid))
	}
	return l
}

// Sessions returns the live sessions of each user, as Lookup does.
func (l *QueuedLookup) Sessions(ctx context.Context) (map[int64][]Session, error) {
	for _, g := range l.gets {
		if err := g.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	return l.r.collect(ctx, l.uids, l.gets)
}
