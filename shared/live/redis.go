// Each process publishes its newest second to Redis, so any process can
// show the cluster:
//
//	{p}live:{process}   string  the process's newest Snapshot as JSON, TTL Fresh
//	{p}live:processes   zset    process -> Unix time of its last publish
//
// A second costs a process one pipeline (SET, ZADD) and a reader one
// ZRANGEBYSCORE plus one GET per live process, each a different key, so it
// works on Redis Cluster and scales with the processes, not the readers.
// A process that stops publishing vanishes when its key expires; its entry
// in the index is swept by the publishers.

package live

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fresh is how long a published snapshot stays visible: a process that
// missed this many seconds of publishing is taken for gone.
const Fresh = 5 * time.Second

// sweepEvery publishes between two sweeps of the index.
const sweepEvery = 10

// Redis publishes snapshots to, and reads the cluster from, Redis.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	n      atomic.Int64 // publishes, for sweeping
}

// NewRedis uses rdb with the key prefix every key of the cluster has (e.g. "tether:").
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

func (r *Redis) key(process string) string { return r.prefix + "live:" + process }
func (r *Redis) index() string             { return r.prefix + "live:processes" }

// Publish implements Publisher.
func (r *Redis) Publish(ctx context.Context, s Snapshot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	now := time.Now()
	pipe := r.rdb.Pipeline()
	pipe.Set(ctx, r.key(s.Process), b, Fresh)
	pipe.ZAdd(ctx, r.index(), redis.Z{Score: float64(now.Unix()), Member: s.Process})
	if r.n.Add(1)%sweepEvery == 1 {
		pipe.ZRemRangeByScore(ctx, r.index(), "-inf", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))
	}
	_, err = pipe.Exec(ctx)
	return err
}

// Processes returns the newest snapshot of every process that published
// within Fresh, ordered by process id.
func (r *Redis) Processes(ctx context.Context) ([]Snapshot, error) {
	since := time.Now().Add(-Fresh).Unix()
	names, err := r.rdb.ZRangeByScore(ctx, r.index(), &redis.ZRangeBy{Min: strconv.FormatInt(since, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	pipe := r.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(names))
	for i, n := range names {
		gets[i] = pipe.Get(ctx, r.key(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]Snapshot, 0, len(names))
	for i, g := range gets {
		b, err := g.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired since the index was read
		}
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil || s.Process != names[i] {
			continue // not a snapshot of this version: one process missing beats no view
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		if a.Process < b.Process {
			return -1
		}
		if a.Process > b.Process {
			return 1
		}
		return 0
	})
	return out, nil
}

// Cluster is the cluster's newest second: every process and their sum.
func (r *Redis) Cluster(ctx context.Context) (ClusterView, error) {
	ps, err := r.Processes(ctx)
	if err != nil {
		return ClusterView{}, err
	}
	return NewClusterView(ps), nil
}
