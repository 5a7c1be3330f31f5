package stream

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The broadcast stream is read by every node with a consumer group named
// after the node, so each node sees every broadcast once.
//
// Group lifecycle:
//   - Joining creates the group at "$" (the stream's end) if it does not
//     exist: a new node never receives broadcasts sent before it joined.
//     If it exists (the node restarted or was upgraded under the same id),
//     the node resumes where its group stopped; what it may catch up on is
//     bounded by the stream's MAXLEN and by each job's expiry.
//   - LeaveBroadcast destroys the group when a node stops for good, so a
//     cleanly stopped node starts afresh at "$" next time and the stream's
//     groups do not pile up.
//   - A crashed node leaves its group behind. SweepBroadcastGroups, run by
//     every live node now and then, destroys the groups of nodes that are
//     not alive and whose consumers have been idle for a while. A node
//     swept by mistake (its key expired during a Redis partition) loses
//     nothing: it sees NOGROUP and rejoins at the last entry it read.
//
// A node's own stream is read by group NodeGroup, created at "0" (the
// stream's start): jobs appended before the node first read are its own.

// NodeSource is the Source of node id's job stream, consumer group NodeGroup.
func (r *Redis) NodeSource(id string) Source {
	return &redisSource{r: r, stream: r.keys.Node(id), group: NodeGroup, consumer: id, from: "0"}
}

// BroadcastSource is the Source of the broadcast stream for node id, whose
// consumer group is named after the node.
func (r *Redis) BroadcastSource(id string) Source {
	return &redisSource{r: r, stream: r.keys.Broadcast(), group: id, consumer: id, from: "$"}
}

// redisSource is one consumer group on one stream. from is where a new
// group starts when it is created without a known last entry.
type redisSource struct {
	r                       *Redis
	stream, group, consumer string
	from                    string
}

func (s *redisSource) Name() string { return s.stream }

func (s *redisSource) Join(ctx context.Context) (string, error) {
	if err := s.create(ctx, s.from); err != nil {
		return "", err
	}
	if s.from == "0" {
		return "", nil // a node stream is always read from its pending entries on
	}
	groups, err := s.r.rdb.XInfoGroups(ctx, s.stream).Result()
	if err != nil {
		return "", err
	}
	for _, g := range groups {
		if g.Name == s.group {
			return g.LastDeliveredID, nil
		}
	}
	return "", errors.New("stream: group vanished while joining")
}

func (s *redisSource) create(ctx context.Context, from string) error {
	err := s.r.rdb.XGroupCreateMkStream(ctx, s.stream, s.group, from).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func (s *redisSource) Read(ctx context.Context, pending bool, after string, count int, block time.Duration) ([]Entry, error) {
	args := &redis.XReadGroupArgs{Group: s.group, Consumer: s.consumer, Count: int64(count), Block: -1}
	if pending {
		if after == "" {
			after = "0"
		}
		args.Streams = []string{s.stream, after}
	} else {
		args.Streams = []string{s.stream, ">"}
		args.Block = block
	}
	res, err := s.r.rdb.XReadGroup(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // BLOCK timed out with nothing new
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			return nil, errors.Join(ErrNoGroup, err)
		}
		return nil, err
	}
	var out []Entry
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, decode(m.ID, m.Values[Field]))
		}
	}
	return out, nil
}

func (s *redisSource) Ack(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.r.rdb.XAck(ctx, s.stream, s.group, ids...).Err()
}

// Recover recreates the group after last. If Redis lost the stream too, the
// new stream's ids are all later than last, so nothing is skipped.
func (s *redisSource) Recover(ctx context.Context, last string) error {
	from := s.from
	if last != "" && s.from != "0" {
		from = last
	}
	return s.create(ctx, from)
}

// LeaveBroadcast destroys node id's group on the broadcast stream.
func (r *Redis) LeaveBroadcast(ctx context.Context, id string) error {
	err := r.rdb.XGroupDestroy(ctx, r.keys.Broadcast(), id).Err()
	if err != nil && strings.Contains(err.Error(), "requires the key to exist") {
		return nil // no stream, no group
	}
	return err
}

// SweepBroadcastGroups destroys at most limit broadcast groups of dead
// nodes: not alive (by alive, e.g. route.Registry.NodesAlive), and no
// consumer active within minIdle. It returns the node ids it removed.
func (r *Redis) SweepBroadcastGroups(ctx context.Context, minIdle time.Duration, limit int,
	alive func(ctx context.Context, ids []string) (map[string]bool, error)) ([]string, error) {
	stream := r.keys.Broadcast()
	groups, err := r.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.HasPrefix(err.Error(), "ERR no such key") {
			return nil, nil
		}
		return nil, err
	}
	if len(groups) == 0 {
		return nil, nil
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.Name
	}
	up, err := alive(ctx, ids)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, g := range groups {
		if len(removed) >= limit {
			break
		}
		if up[g.Name] {
			continue
		}
		consumers, err := r.rdb.XInfoConsumers(ctx, stream, g.Name).Result()
		if err != nil {
			return removed, err
		}
		idle := true
		for _, c := range consumers {
			if c.Idle < minIdle {
				idle = false
				break
			}
		}
		if !idle {
			continue
		}
		if err := r.rdb.XGroupDestroy(ctx, stream, g.Name).Err(); err != nil {
			return removed, err
		}
		removed = append(removed, g.Name)
	}
	return removed, nil
}
