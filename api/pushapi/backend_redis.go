package pushapi

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/coalesce"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// RedisBackend is the Backend in Redis. It owns its pipelines and scripts
// and asks the owners of the registry, the streams and the statuses to
// queue their commands on them, or to contribute their part of the send
// script (send_script.go), so a push costs as few round trips as if one
// package wrote them all:
//
//	{p}pushidem:{key id}:{hash}  string  idempotency record (shared/pushstatus)
//	{p}push:{id}                 hash    status (shared/pushstatus)
//	{p}pushck:{key id}:{hash}    hash    collapse index: user id -> version of the newest push entry
//	rate:{p}pushrate:{key id}    string  the key's rate (GCRA, ratelimit.go)
type RedisBackend struct {
	rdb     redis.UniversalClient
	reg     *route.Registry
	streams *stream.Redis
	status  *pushstatus.Redis
	pipes   *coalesce.Runner // the send script's pipelines, shared by concurrent requests
	prefix  string
}

var (
	_ Backend = (*RedisBackend)(nil)
	_ Limiter = (*RedisBackend)(nil)
)

// NewRedisBackend returns the backend on rdb, with the registry's key prefix.
func NewRedisBackend(rdb redis.UniversalClient, reg *route.Registry, streams *stream.Redis) *RedisBackend {
	p := reg.Keys().Prefix
	return &RedisBackend{rdb: rdb, reg: reg, streams: streams, status: pushstatus.NewRedis(rdb, p), pipes: coalesce.New(rdb, 0, 0), prefix: p}
}

func (b *RedisBackend) queueClaims(ctx context.Context, pipe redis.Pipeliner, claims []*Claim) []*redis.StringCmd {
	gets := make([]*redis.StringCmd, len(claims))
	for i, c := range claims {
		key := b.status.Keys().Idempotency(c.KeyID, c.Key)
		pipe.SetNX(ctx, key, c.Value, tether.PushIdempotencyWindow)
		gets[i] = pipe.Get(ctx, key)
	}
	return gets
}

func holders(claims []*Claim, gets []*redis.StringCmd) error {
	for i, g := range gets {
		v, err := g.Result()
		if err != nil {
			return err
		}
		claims[i].Holder = v
	}
	return nil
}

// Claim implements Backend.
func (b *RedisBackend) Claim(ctx context.Context, claims []*Claim) error {
	pipe := b.rdb.Pipeline()
	gets := b.queueClaims(ctx, pipe, claims)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	return holders(claims, gets)
}

// Forget implements Backend.
func (b *RedisBackend) Forget(ctx context.Context, claims []*Claim) {
	keys, values := make([]string, len(claims)), make([]string, len(claims))
	for i, c := range claims {
		keys[i], values[i] = b.status.Keys().Idempotency(c.KeyID, c.Key), c.Value
	}
	_ = b.status.Release(ctx, keys, values)
}

// Broadcast implements Backend.
func (b *RedisBackend) Broadcast(ctx context.Context, st NewStatus, j job.Job) error {
	pipe := b.rdb.Pipeline()
	b.status.QueueCreate(ctx, pipe, st.ID, st.Status, st.TTL)
	if _, err := b.streams.QueueBroadcast(ctx, pipe, j); err != nil {
		return err
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Status implements Backend.
func (b *RedisBackend) Status(ctx context.Context, id string) (pushstatus.Status, bool, error) {
	return b.status.Get(ctx, id)
}

// Targeted implements Backend.
func (b *RedisBackend) Targeted(ctx context.Context, ids []string) map[string]int64 {
	return b.status.Targeted(ctx, ids)
}

func (b *RedisBackend) collapseKey(c Collapse) string {
	return b.prefix + "pushck:" + c.KeyID + ":" + c.Key
}

// Collapsed implements Backend.
func (b *RedisBackend) Collapsed(ctx context.Context, c Collapse, users []int64) (map[int64]uint64, error) {
	fields := make([]string, len(users))
	for i, u := range users {
		fields[i] = strconv.FormatInt(u, 10)
	}
	vals, err := b.rdb.HMGet(ctx, b.collapseKey(c), fields...).Result()
	if err != nil {
		return nil, err
	}
	out := map[int64]uint64{}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if ver, err := strconv.ParseUint(str, 10, 64); err == nil {
				out[users[i]] = ver
			}
		}
	}
	return out, nil
}

// Persisted implements Backend.
func (b *RedisBackend) Persisted(ctx context.Context, st NewStatus, c Collapse, versions map[int64]uint64) error {
	pipe := b.rdb.Pipeline()
	b.status.QueueCreate(ctx, pipe, st.ID, st.Status, st.TTL)
	if c.Key != "" && len(versions) > 0 {
		key := b.collapseKey(c)
		args := make([]any, 0, 2*len(versions))
		for uid, v := range versions {
			args = append(args, strconv.FormatInt(uid, 10), v)
		}
		pipe.HSet(ctx, key, args...)
		pipe.Expire(ctx, key, time.Duration(tether.MaxPushTTL)*time.Second+time.Hour)
	}
	_, err := pipe.Exec(ctx)
	return err
}
