package route

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Presence: who of a list of users is online, and on which devices, for
// GET /v1/presence.

// OnlineDevicesOf returns the devices with a live session of each of uids,
// as user id -> device id -> platform; users with none are absent. All the
// users' routes are read in one pipelined round trip; whether their nodes are
// alive comes from the liveness cache (aliveNodes), which costs at most one
// more round trip for the nodes it has not seen alive within the last second.
// Unlike Lookup it only reads: a dead node's routes are left for the relay
// to clean up.
func (r *Registry) OnlineDevicesOf(ctx context.Context, uids []int64) (map[int64]map[string]string, error) {
	if len(uids) == 0 {
		return map[int64]map[string]string{}, nil
	}
	pipe := r.rdb.Pipeline()
	gets := make([]*redis.MapStringStringCmd, len(uids))
	for i, uid := range uids {
		gets[i] = pipe.HGetAll(ctx, r.keys.Route(uid))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var nodes []string
	sessions := make([][]Session, len(uids))
	for i := range uids {
		for dev, v := range gets[i].Val() {
			if s, ok := parseSession(dev, v); ok {
				sessions[i] = append(sessions[i], s)
				nodes = append(nodes, s.NodeID)
			}
		}
	}
	out := make(map[int64]map[string]string)
	if len(nodes) == 0 {
		return out, nil
	}
	alive, err := r.aliveNodes(ctx, nodes)
	if err != nil {
		return nil, err
	}
	for i, uid := range uids {
		for _, s := range sessions[i] {
			if !alive[s.NodeID] {
				continue
			}
			if out[uid] == nil {
				out[uid] = make(map[string]string, len(sessions[i]))
			}
			out[uid][s.DeviceID] = s.Platform
		}
	}
	return out, nil
}
