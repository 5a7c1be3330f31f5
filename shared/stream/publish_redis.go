package stream

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/job"
)

// Caps are the approximate MAXLEN of the streams a Redis publisher appends
// to; zero takes the default.
type Caps struct {
	Node      int64 // DefaultNodeMaxLen if 0
	Broadcast int64 // DefaultBroadcastMaxLen if 0
}

// Redis is the streams in Redis: a Publisher, the consumer groups, and the
// Sources of a node's two readers. It is safe for concurrent use.
type Redis struct {
	rdb  redis.UniversalClient
	keys Keys
	caps Caps
}

var _ Publisher = (*Redis)(nil)

// NewRedis returns the streams on rdb under prefix.
func NewRedis(rdb redis.UniversalClient, prefix string, caps Caps) *Redis {
	if caps.Node <= 0 {
		caps.Node = DefaultNodeMaxLen
	}
	if caps.Broadcast <= 0 {
		caps.Broadcast = DefaultBroadcastMaxLen
	}
	return &Redis{rdb: rdb, keys: Keys{Prefix: prefix}, caps: caps}
}

// Keys returns the key names of the streams.
func (r *Redis) Keys() Keys { return r.keys }

// Publish appends each job to its node's stream, in one round trip.
func (r *Redis) Publish(ctx context.Context, jobs []NodeJob) error {
	if len(jobs) == 0 {
		return nil
	}
	pipe := r.rdb.Pipeline()
	if err := r.Queue(ctx, pipe, jobs); err != nil {
		return err
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Queue queues the appends of Publish on pipe, for a caller that sends
// other commands in the same round trip. Redis runs a pipeline's commands in
// order, so what is queued before the jobs is written before any node can
// read them.
func (r *Redis) Queue(ctx context.Context, pipe redis.Pipeliner, jobs []NodeJob) error {
	for _, nj := range jobs {
		b, err := stamp(nj.Job)
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.keys.Node(nj.Node), MaxLen: r.caps.Node, Approx: true, Values: []any{Field, b}})
	}
	return nil
}

// Broadcast appends a job.KindBroadcast job to the broadcast stream and
// returns the entry id.
func (r *Redis) Broadcast(ctx context.Context, j job.Job) (string, error) {
	pipe := r.rdb.Pipeline()
	add, err := r.QueueBroadcast(ctx, pipe, j)
	if err != nil {
		return "", err
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return "", err
	}
	return add.Val(), nil
}

// QueueBroadcast queues the append of Broadcast on pipe; the entry id is in
// the returned command once pipe has run.
func (r *Redis) QueueBroadcast(ctx context.Context, pipe redis.Pipeliner, j job.Job) (*redis.StringCmd, error) {
	if j.Kind != job.KindBroadcast {
		return nil, errors.New("stream: the broadcast stream takes broadcast jobs only")
	}
	b, err := stamp(j)
	if err != nil {
		return nil, err
	}
	return pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.keys.Broadcast(), MaxLen: r.caps.Broadcast, Approx: true, Values: []any{Field, b}}), nil
}
