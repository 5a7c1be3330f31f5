// Package blockmirror copies users' blocks from the database into Redis,
// where push nodes (which have no database) read them to refuse what a
// blocked user sends the blocker over push alone: signals. It is the one
// home of that Redis protocol:
//
//	{p}blocks:{blocker}  set     the ids of the users blocker blocked
//	{p}blocks:complete   string  present once the sets hold every block of the database
//	{p}blocks:rebuild    string  the token of the API process rebuilding the sets (a lease)
//
// The API writes a set in the request that stores or deletes the block, after
// the database (Mirror.Block, Mirror.Unblock); if Redis fails there, the
// request answers 503 and its retry writes it again. Either failure leaves
// the mirror blocking at least what it should (a block not yet in the
// database, an unblock not yet in Redis), never less.
//
// If Redis loses its data, the marker goes with it: readers then know the
// mirror is incomplete (Check answers ErrIncomplete) and must treat every
// pair as blocked, until an API process (Keeper) has copied every block from
// the database again and set the marker.
package blockmirror

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrIncomplete means the mirror does not hold every block (Redis lost it and
// no rebuild has finished since): a reader cannot tell who blocked whom.
var ErrIncomplete = errors.New("blockmirror: the mirror of blocks is incomplete (being rebuilt)")

// Pair is one block: Blocker blocked Blocked.
type Pair struct{ Blocker, Blocked int64 }

// Mirror reads and writes the mirror under one key prefix.
type Mirror struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns the mirror under prefix (the cluster's --redis-prefix).
func New(rdb redis.UniversalClient, prefix string) *Mirror {
	return &Mirror{rdb: rdb, prefix: prefix}
}

func (m *Mirror) set(blocker int64) string {
	return m.prefix + "blocks:" + strconv.FormatInt(blocker, 10)
}
func (m *Mirror) complete() string { return m.prefix + "blocks:complete" }
func (m *Mirror) lease() string    { return m.prefix + "blocks:rebuild" }

// Block records that blocker blocked blocked. Call it after the database
// stored the block.
func (m *Mirror) Block(ctx context.Context, blocker, blocked int64) error {
	return m.rdb.SAdd(ctx, m.set(blocker), blocked).Err()
}

// Unblock records that blocker no longer blocks blocked. Call it after the
// database deleted the block.
func (m *Mirror) Unblock(ctx context.Context, blocker, blocked int64) error {
	return m.rdb.SRem(ctx, m.set(blocker), blocked).Err()
}

// Check reports, for each pair, whether Blocker blocked Blocked, in one
// round trip. It answers ErrIncomplete when the mirror cannot tell.
func (m *Mirror) Check(ctx context.Context, pairs []Pair) ([]bool, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	pipe := m.rdb.Pipeline()
	known := pipe.Exists(ctx, m.complete())
	is := make([]*redis.BoolCmd, len(pairs))
	for i, p := range pairs {
		is[i] = pipe.SIsMember(ctx, m.set(p.Blocker), p.Blocked)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	if known.Val() == 0 {
		return nil, ErrIncomplete
	}
	out := make([]bool, len(pairs))
	for i, c := range is {
		out[i] = c.Val()
	}
	return out, nil
}

// Complete reports whether the mirror holds every block.
func (m *Mirror) Complete(ctx context.Context) (bool, error) {
	n, err := m.rdb.Exists(ctx, m.complete()).Result()
	return n > 0, err
}

// Source pages through every block of the database in (Blocker, Blocked)
// order: the blocks after after, at most limit of them.
type Source interface {
	BlockPairs(ctx context.Context, after Pair, limit int) ([]Pair, error)
}

const (
	rebuildPage  = 1000             // blocks copied per database read and Redis pipeline
	rebuildLease = 30 * time.Second // a rebuilder silent this long is presumed dead
)

// holdLease extends the lease if token still holds it; 0 if it does not
// (another process took over, or Redis lost it).
var holdLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// finish sets the marker and ends the lease, if token still holds it.
var finish = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], '1')
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)

// errLeaseLost ends a rebuild whose lease was taken or lost (Redis restarted
// mid-way): the sets may be partial, so the marker must not be set.
var errLeaseLost = errors.New("blockmirror: rebuild lease lost")

// Rebuild copies every block from src into Redis and then marks the mirror
// complete, unless it is complete already or another process is rebuilding
// (then it returns false). Copying only adds: a block deleted during the
// rebuild may stay in the set (its signals are refused) until it is blocked
// and unblocked again, but a block is never missing once the marker is set.
// If Redis loses its data during the rebuild the lease goes with it, and
// the marker is not set.
func (m *Mirror) Rebuild(ctx context.Context, src Source) (bool, error) {
	if ok, err := m.Complete(ctx); err != nil || ok {
		return false, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	got, err := m.rdb.SetNX(ctx, m.lease(), token, rebuildLease).Result()
	if err != nil || !got {
		return false, err
	}
	var after Pair
	for {
		page, err := src.BlockPairs(ctx, after, rebuildPage)
		if err != nil {
			return false, err
		}
		if len(page) == 0 {
			break
		}
		pipe := m.rdb.Pipeline()
		for i := 0; i < len(page); {
			j := i
			members := make([]any, 0, 8)
			for ; j < len(page) && page[j].Blocker == page[i].Blocker; j++ {
				members = append(members, page[j].Blocked)
			}
			pipe.SAdd(ctx, m.set(page[i].Blocker), members...)
			i = j
		}
		held := holdLease.Eval(ctx, pipe, []string{m.lease()}, token, rebuildLease.Milliseconds())
		if _, err := pipe.Exec(ctx); err != nil {
			return false, err
		}
		if n, _ := held.Int(); n == 0 {
			return false, errLeaseLost
		}
		after = page[len(page)-1]
		if len(page) < rebuildPage {
			break
		}
	}
	n, err := finish.Run(ctx, m.rdb, []string{m.lease(), m.complete()}, token).Int()
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, errLeaseLost
	}
	return true, nil
}
