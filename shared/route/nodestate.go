package route

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// What an operator sees of the push nodes (the ops page's node list). The
// node key ({p}node:{id}) only says a node takes new sessions: a draining
// node deletes it at once so relays stop routing to it, and a dead one lets
// it expire. So each node also keeps its status in one hash that outlives
// the key:
//
//	{p}nodes   hash   node id -> the node's Info as JSON, with State and SeenMS
//
// written with every heartbeat (state ready, or hot-restarting while the node
// hands itself over) and when the node begins to drain and when it stops.
// Nodes lists it; a ready node whose key is gone is down, and entries not
// written for StatusKeep are dropped.

// The states of a node.
const (
	StateReady         = "ready"          // takes new sessions
	StateDraining      = "draining"       // moving its clients to other nodes, then stopping
	StateHotRestarting = "hot-restarting" // handing its connections to a new process of itself
	StateStopped       = "stopped"        // stopped on purpose (drained, or shut down)
	StateDown          = "down"           // its heartbeat expired without a stop: crashed or cut off
)

// StatusKeep is how long the status of a node that no longer writes it is
// listed (as stopped or down) before Nodes drops it.
const StatusKeep = 10 * time.Minute

// NodeStatuses is the hash of every node's status.
func (k Keys) NodeStatuses() string { return k.Prefix + "nodes" }

// SetNodeStatus records n (with its State) as the node's status now. The
// heartbeat records it too (Heartbeat); this is for the changes between
// heartbeats: the start of a drain or a hot restart, and the stop.
func (r *Registry) SetNodeStatus(ctx context.Context, n Info) error {
	return r.rdb.HSet(ctx, r.keys.NodeStatuses(), n.ID, statusJSON(n)).Err()
}

func statusJSON(n Info) []byte {
	if n.State == "" {
		n.State = StateReady
	}
	n.SeenMS = time.Now().UnixMilli()
	b, _ := json.Marshal(n)
	return b
}

// Nodes lists every node with a recent status, by id: one HGETALL and one
// pipelined EXISTS of the node keys. A node that reported itself ready or
// hot-restarting but whose key has expired is listed as StateDown. Statuses
// not written for StatusKeep are removed.
func (r *Registry) Nodes(ctx context.Context) ([]Info, error) {
	all, err := r.rdb.HGetAll(ctx, r.keys.NodeStatuses()).Result()
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	out := make([]Info, 0, len(all))
	var stale []string
	for id, v := range all {
		var n Info
		if json.Unmarshal([]byte(v), &n) != nil || n.ID != id {
			stale = append(stale, id) // not ours: a status is only ever written whole
			continue
		}
		if now-n.SeenMS > StatusKeep.Milliseconds() {
			stale = append(stale, id)
			continue
		}
		out = append(out, n)
	}
	if len(stale) > 0 {
		_ = r.rdb.HDel(ctx, r.keys.NodeStatuses(), stale...).Err() // cleanup only; the next listing retries
	}
	if len(out) == 0 {
		return out, nil
	}
	pipe := r.rdb.Pipeline()
	exists := make([]*redis.IntCmd, len(out))
	for i, n := range out {
		exists[i] = pipe.Exists(ctx, r.keys.Node(n.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i := range out {
		if exists[i].Val() == 0 && (out[i].State == StateReady || out[i].State == StateHotRestarting) {
			out[i].State = StateDown
		}
	}
	slices.SortFunc(out, func(a, b Info) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}
