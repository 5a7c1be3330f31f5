package switches

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// RedisBus is the one home of the switches' Redis protocol:
//
//	{p}switches          hash     version: the snapshot's version; snapshot: its JSON (Snapshot.Encode)
//	{p}switches:changed  channel  the JSON of every snapshot written to the hash
//
// A writer stores a snapshot only if it is newer than the hash's, and
// publishes it only then, in one script; readers install what the channel
// brings and read the hash at start and periodically (push nodes have no
// database: the hash is their source of truth).
type RedisBus struct {
	rdb     redis.UniversalClient
	key     string
	channel string
}

var _ Publisher = (*RedisBus)(nil)

// NewRedisBus returns the bus under prefix (the cluster's --redis-prefix).
func NewRedisBus(rdb redis.UniversalClient, prefix string) *RedisBus {
	return &RedisBus{rdb: rdb, key: prefix + "switches", channel: prefix + "switches:changed"}
}

// publishNewer stores and publishes ARGV[2] (a snapshot at version ARGV[1])
// unless the hash already holds that version or a newer one.
var publishNewer = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if cur >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'snapshot', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`)

// Publish implements Publisher: it makes s the latest snapshot in Redis and
// tells every subscriber, unless Redis already holds a version as new.
func (b *RedisBus) Publish(ctx context.Context, s *Snapshot) error {
	_, err := b.publish(ctx, s)
	return err
}

// publish reports whether s was newer than what Redis held.
func (b *RedisBus) publish(ctx context.Context, s *Snapshot) (bool, error) {
	n, err := publishNewer.Run(ctx, b.rdb, []string{b.key}, strconv.FormatInt(s.Version, 10), s.Encode(), b.channel).Int()
	return n == 1, err
}

// Latest returns the snapshot Redis holds; (nil, nil) when it holds none
// (never published, or Redis lost its data).
func (b *RedisBus) Latest(ctx context.Context) (*Snapshot, error) {
	raw, err := b.rdb.HGet(ctx, b.key, "snapshot").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeSnapshot(raw)
}

// subscribe returns a subscription to the channel.
func (b *RedisBus) subscribe(ctx context.Context) *redis.PubSub {
	return b.rdb.Subscribe(ctx, b.channel)
}
