package route

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The broadcast stream ({p}broadcast) is read by every node with a consumer
// group named after the node, so each node sees every broadcast once.
//
// Group lifecycle:
//   - JoinBroadcast creates the group at "$" (the stream's end) if it does
//     not exist: a new node never receives broadcasts sent before it joined.
//     If it exists (the node restarted or was upgraded under the same id),
//     the node resumes where its group stopped; what it may catch up on is
//     bounded by the stream's MAXLEN and by each job's expiry.
//   - LeaveBroadcast destroys the group when a node stops for good, so a
//     cleanly stopped node starts afresh at "$" next time and the stream's
//     groups do not pile up.
//   - A crashed node leaves its group behind. SweepBroadcastGroups, run by
//     every live node now and then, destroys the groups of nodes whose
//     heartbeat key is gone and whose consumers have been idle for a while.
//     A node swept by mistake (its key expired during a Redis partition)
//     loses nothing: it sees NOGROUP and rejoins at the last entry it read.

// JoinBroadcast makes sure nodeID's group on the broadcast stream exists
// (creating it at the stream's end) and returns the id of the last entry
// delivered to the group, the position to RejoinBroadcast at if the group
// is lost later.
func (r *Registry) JoinBroadcast(ctx context.Context, nodeID string) (string, error) {
	stream := r.keys.Broadcast()
	err := r.rdb.XGroupCreateMkStream(ctx, stream, nodeID, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return "", err
	}
	groups, err := r.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return "", err
	}
	for _, g := range groups {
		if g.Name == nodeID {
			return g.LastDeliveredID, nil
		}
	}
	return "", errors.New("route: broadcast group vanished while joining")
}

// RejoinBroadcast recreates nodeID's group at fromID (an entry id the node
// already handled) after Redis lost it. Entries after fromID still in the
// stream are delivered; if Redis lost the stream too, the new stream's ids
// are all later than fromID, so nothing is skipped.
func (r *Registry) RejoinBroadcast(ctx context.Context, nodeID, fromID string) error {
	err := r.rdb.XGroupCreateMkStream(ctx, r.keys.Broadcast(), nodeID, fromID).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// LeaveBroadcast destroys nodeID's group on the broadcast stream.
func (r *Registry) LeaveBroadcast(ctx context.Context, nodeID string) error {
	err := r.rdb.XGroupDestroy(ctx, r.keys.Broadcast(), nodeID).Err()
	if err != nil && strings.Contains(err.Error(), "requires the key to exist") {
		return nil // no stream, no group
	}
	return err
}

// SweepBroadcastGroups destroys at most limit broadcast groups of dead
// nodes: no heartbeat key, and no consumer active within minIdle. It
// returns the node ids it removed.
func (r *Registry) SweepBroadcastGroups(ctx context.Context, minIdle time.Duration, limit int) ([]string, error) {
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
	pipe := r.rdb.Pipeline()
	exists := make([]*redis.IntCmd, len(groups))
	for i, g := range groups {
		exists[i] = pipe.Exists(ctx, r.keys.Node(g.Name))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var removed []string
	for i, g := range groups {
		if len(removed) >= limit {
			break
		}
		if exists[i].Val() == 1 {
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
