// Package pushstatus owns the state the push API keeps per push in Redis,
// beside the routes and never in MySQL, so a transient push costs no
// database write:
//
//	{p}push:{id}                 hash    a push's Status (fields below)
//	{p}pushidem:{key id}:{hash}  string  "push id|request hash" of an idempotency key, for 24 h
//
// The API (api/pushapi) creates a status when it sends a push; push nodes
// add what they delivered and what clients acknowledged with Count, which
// only touches statuses that still exist, so a node never resurrects an
// expired one.
package pushstatus

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fields of a status hash.
const (
	fieldKey          = "k"  // the API key id that sent the push
	fieldMode         = "m"  // transient, persisted or broadcast
	fieldCreated      = "c"  // unix ms
	fieldExpires      = "x"  // unix ms
	fieldCollapseKey  = "ck" //
	fieldTargeted     = "t"  // sessions (or users) the push was routed to
	fieldDelivered    = "d"  // counted by nodes
	fieldAcknowledged = "a"  // counted by nodes
)

// Status is the delivery status of one push.
type Status struct {
	KeyID        string
	Mode         string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	CollapseKey  string
	Targeted     int64
	Delivered    int64
	Acknowledged int64
}

// Counter names a count nodes add to.
type Counter uint8

const (
	// Delivered counts the frames of a push queued to live sessions.
	Delivered Counter = iota + 1
	// Acknowledged counts the PushAck frames clients sent back.
	Acknowledged
)

func (c Counter) field() string {
	if c == Acknowledged {
		return fieldAcknowledged
	}
	return fieldDelivered
}

// Count is a node's count of one push since its last report.
type Count struct {
	PushID string
	Of     Counter
	N      int64
}

// Keys builds key names under a prefix (e.g. "tether:").
type Keys struct{ Prefix string }

// Status is the status hash of a push.
func (k Keys) Status(id string) string { return k.Prefix + "push:" + id }

// Idempotency is the record of an API key's idempotency key (hashed).
func (k Keys) Idempotency(keyID, keyHash string) string {
	return k.Prefix + "pushidem:" + keyID + ":" + keyHash
}

// Redis keeps statuses in Redis. It is safe for concurrent use.
type Redis struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewRedis returns the statuses on rdb under prefix.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, keys: Keys{Prefix: prefix}}
}

// Keys returns the key names.
func (r *Redis) Keys() Keys { return r.keys }

// QueueCreate queues the writing of a new push's status on pipe, for a
// caller that sends the push's jobs in the same round trip (after it, so a
// node finds the status to count into). The status lives for ttl.
func (r *Redis) QueueCreate(ctx context.Context, pipe redis.Pipeliner, id string, s Status, ttl time.Duration) {
	key := r.keys.Status(id)
	pipe.HSet(ctx, key, fieldKey, s.KeyID, fieldMode, s.Mode, fieldCreated, s.CreatedAt.UnixMilli(),
		fieldExpires, s.ExpiresAt.UnixMilli(), fieldCollapseKey, s.CollapseKey, fieldTargeted, s.Targeted)
	pipe.Expire(ctx, key, ttl)
}

// Get reads a push's status; ok is false if it has none (unknown or expired).
func (r *Redis) Get(ctx context.Context, id string) (s Status, ok bool, err error) {
	h, err := r.rdb.HGetAll(ctx, r.keys.Status(id)).Result()
	if err != nil || len(h) == 0 {
		return Status{}, false, err
	}
	num := func(f string) int64 { v, _ := strconv.ParseInt(h[f], 10, 64); return v }
	return Status{
		KeyID: h[fieldKey], Mode: h[fieldMode], CollapseKey: h[fieldCollapseKey],
		CreatedAt: time.UnixMilli(num(fieldCreated)).UTC(), ExpiresAt: time.UnixMilli(num(fieldExpires)).UTC(),
		Targeted: num(fieldTargeted), Delivered: num(fieldDelivered), Acknowledged: num(fieldAcknowledged),
	}, true, nil
}

// Targeted reads how many sessions each push was routed to, in one round
// trip; a push without a status (not written yet, or expired) reads as 0.
func (r *Redis) Targeted(ctx context.Context, ids []string) map[string]int64 {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out
	}
	pipe := r.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		gets[i] = pipe.HGet(ctx, r.keys.Status(id), fieldTargeted)
	}
	_, _ = pipe.Exec(ctx)
	for i, g := range gets {
		n, _ := strconv.ParseInt(g.Val(), 10, 64)
		out[ids[i]] = n
	}
	return out
}

// incrIfExists adds ARGV[2i] to field ARGV[2i-1] of KEYS[i] if KEYS[i] exists.
var incrIfExists = redis.NewScript(`
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HINCRBY', k, ARGV[2*i-1], ARGV[2*i]) end
end
return 0`)

// Count adds a batch of counts to the pushes' statuses in one round trip.
// Pushes without a status (not from the push API, or expired) are skipped.
func (r *Redis) Count(ctx context.Context, counts []Count) error {
	if len(counts) == 0 {
		return nil
	}
	keys := make([]string, len(counts))
	args := make([]any, 0, 2*len(counts))
	for i, c := range counts {
		keys[i] = r.keys.Status(c.PushID)
		args = append(args, c.Of.field(), strconv.FormatInt(c.N, 10))
	}
	return incrIfExists.Run(ctx, r.rdb, keys, args...).Err()
}
