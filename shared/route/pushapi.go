package route

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The push API (api/pushapi) keeps its per-push state in Redis beside the
// routes, never in MySQL, so a transient push costs no database write:
//
//	{p}push:{id}                 hash    delivery status: k (API key id), m (mode), c and x (created and expiry, unix ms), ck (collapse key), t (targeted), d (delivered), a (acknowledged)
//	{p}pushidem:{key id}:{hash}  string  "push id|request hash" of an idempotency key, for 24 h
//
// Push nodes add to d and a of existing status hashes only (CountPushes), so
// a node never resurrects an expired status.

// PushStatus is the status hash of a push.
func (k Keys) PushStatus(id string) string { return k.Prefix + "push:" + id }

// PushIdempotency is the idempotency record of an API key's idempotency key (hashed).
func (k Keys) PushIdempotency(keyID, keyHash string) string {
	return k.Prefix + "pushidem:" + keyID + ":" + keyHash
}

// Status hash fields node count into.
const (
	PushDelivered    = "d"
	PushAcknowledged = "a"
)

// LookupWith is Lookup with extra commands queued by queue on the same
// pipeline, before the lookups: one round trip for both.
func (r *Registry) LookupWith(ctx context.Context, uids []int64, queue func(pipe redis.Pipeliner)) (map[int64][]Session, error) {
	pipe := r.rdb.Pipeline()
	if queue != nil {
		queue(pipe)
	}
	gets := make([]*redis.MapStringStringCmd, len(uids))
	for i, uid := range uids {
		gets[i] = pipe.HGetAll(ctx, r.keys.Route(uid))
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, err
	}
	for _, g := range gets {
		if err := g.Err(); err != nil && !isNil(err) {
			return nil, err
		}
	}
	return r.collect(ctx, uids, gets)
}

// incrIfExists adds ARGV[2i] to field ARGV[2i-1] of KEYS[i] if KEYS[i] exists.
var incrIfExists = redis.NewScript(`
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('HINCRBY', k, ARGV[2*i-1], ARGV[2*i]) end
end
return 0`)

// PushCount is a node's count of one field of one push since its last report.
type PushCount struct {
	PushID string
	Field  string // PushDelivered or PushAcknowledged
	N      int64
}

// CountPushes adds a batch of counts to the pushes' status hashes in one
// round trip. Pushes without a status (not from the push API, or expired)
// are skipped.
func (r *Registry) CountPushes(ctx context.Context, counts []PushCount) error {
	if len(counts) == 0 {
		return nil
	}
	keys := make([]string, len(counts))
	args := make([]any, 0, 2*len(counts))
	for i, c := range counts {
		keys[i] = r.keys.PushStatus(c.PushID)
		args = append(args, c.Field, strconv.FormatInt(c.N, 10))
	}
	return incrIfExists.Run(ctx, r.rdb, keys, args...).Err()
}

func isNil(err error) bool { return err == redis.Nil }
