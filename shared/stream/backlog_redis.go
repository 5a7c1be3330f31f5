// A node's backlog is what waits in its job stream: entries not yet
// delivered to its group (lag) and entries delivered but not acked
// (pending). Redis 7 tells both in XINFO GROUPS; where it cannot tell the
// lag (entries deleted or trimmed past the group, an older server, or the
// in-process Redis of tether dev, which does not track it) the entries
// after the group's last delivered one are counted, up to BacklogScanMax.

package stream

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// BacklogScanMax bounds the entries counted when Redis cannot tell a
// group's lag: a larger lag is reported as BacklogScanMax.
const BacklogScanMax = 1000

// Backlog is the work waiting in one node's job stream.
type Backlog struct {
	Lag     int64 // entries not yet delivered to the node's group
	Pending int64 // entries delivered to the node but not yet acked
}

// NodeBacklog measures node id's job stream. A stream or group that does
// not exist yet has no backlog.
func (r *Redis) NodeBacklog(ctx context.Context, id string) (Backlog, error) {
	key := r.keys.Node(id)
	groups, err := r.rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		if isNoSuchKey(err) {
			return Backlog{}, nil
		}
		return Backlog{}, err
	}
	for _, g := range groups {
		if g.Name != NodeGroup {
			continue
		}
		b := Backlog{Pending: g.Pending, Lag: g.Lag}
		// go-redis reads an unknown lag as -1 and an unknown entries-read
		// as 0; with either, the lag is not to be trusted.
		if g.Lag < 0 || g.EntriesRead == 0 {
			after := "-"
			if g.LastDeliveredID != "" && g.LastDeliveredID != "0-0" {
				after = "(" + g.LastDeliveredID
			}
			es, err := r.rdb.XRangeN(ctx, key, after, "+", BacklogScanMax).Result()
			if err != nil {
				return Backlog{}, err
			}
			b.Lag = int64(len(es))
		}
		return b, nil
	}
	return Backlog{}, nil
}

func isNoSuchKey(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(strings.ToLower(re.Error()), "no such key")
}
