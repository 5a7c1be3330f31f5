package route

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Info describes a live push node. The node key holds it; so does the
// node's status (nodestate.go), with State and SeenMS set.
type Info struct {
	ID        string `json:"id"`
	TCPAddr   string `json:"tcp_addr"`
	WSAddr    string `json:"ws_addr,omitempty"`
	StartedAt int64  `json:"started_at"` // unix seconds

	State      string `json:"state,omitempty"`       // one of the State constants; empty in the node key
	Sessions   int    `json:"sessions,omitempty"`    // live sessions when written
	HotRestart bool   `json:"hot_restart,omitempty"` // the node can hot-restart (it has an upgrade socket)
	SeenMS     int64  `json:"seen_ms,omitempty"`     // unix ms the status was written
}

// Session is one device's live connection as recorded in the registry.
type Session struct {
	DeviceID string
	NodeID   string
	Platform string
	ConnID   string // unique per connection, so a stale disconnect cannot remove a newer route
}

func (s Session) value() string { return s.NodeID + "|" + s.Platform + "|" + s.ConnID }

func parseSession(device, v string) (Session, bool) {
	node, rest, ok := strings.Cut(v, "|")
	if !ok {
		return Session{}, false
	}
	plat, conn, ok := strings.Cut(rest, "|")
	return Session{DeviceID: device, NodeID: node, Platform: plat, ConnID: conn}, ok
}

// Registry reads and writes routing state. It is safe for concurrent use.
type Registry struct {
	rdb  redis.UniversalClient
	keys Keys
	ttl  time.Duration

	mu       sync.Mutex
	alive    map[string]time.Time // node id -> when it was last seen alive
	aliveFor time.Duration
}

// NewRegistry returns a registry on rdb under prefix. nodeTTL is how long a
// node's heartbeat key lives; nodes refresh it at a third of that.
func NewRegistry(rdb redis.UniversalClient, prefix string, nodeTTL time.Duration) *Registry {
	return &Registry{rdb: rdb, keys: Keys{Prefix: prefix}, ttl: nodeTTL, alive: map[string]time.Time{}, aliveFor: time.Second}
}

// Keys returns the key builder of this registry.
func (r *Registry) Keys() Keys { return r.keys }

// NodeTTL is the heartbeat TTL of node keys.
func (r *Registry) NodeTTL() time.Duration { return r.ttl }

// Heartbeat registers or refreshes a node, and records its status (n.State,
// ready if empty; see nodestate.go) in the same round trip.
func (r *Registry) Heartbeat(ctx context.Context, n Info) error {
	key := n
	key.State, key.Sessions, key.SeenMS = "", 0, 0
	b, _ := json.Marshal(key)
	pipe := r.rdb.Pipeline()
	pipe.Set(ctx, r.keys.Node(n.ID), b, r.ttl)
	pipe.HSet(ctx, r.keys.NodeStatuses(), n.ID, statusJSON(n))
	_, err := pipe.Exec(ctx)
	return err
}

// Deregister removes a node's heartbeat key so relays stop routing to it.
func (r *Registry) Deregister(ctx context.Context, nodeID string) error {
	return r.rdb.Del(ctx, r.keys.Node(nodeID)).Err()
}

// AddSession records a live session and returns the user's newest version.
// ok is false when Redis holds no version for the user (never had an entry,
// or Redis lost it): the client must then sync to be sure.
//
// The route is written before the version is read, and the relay writes the
// version before it reads routes: whichever runs second sees the other, so a
// message committed during a handshake is either delivered or announced.
func (r *Registry) AddSession(ctx context.Context, uid int64, s Session) (version uint64, ok bool, err error) {
	pipe := r.rdb.Pipeline()
	pipe.HSet(ctx, r.keys.Route(uid), s.DeviceID, s.value())
	get := pipe.Get(ctx, r.keys.Version(uid))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, err
	}
	v, err := get.Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return v, true, nil
}

// InitVersion records version 0 for a user who has no timeline entry yet
// (at registration), unless a version is there already. A node then tells
// "no entries yet" (version 0) from "Redis holds no version" (lost, or never
// told), which it must answer with version_unknown.
func (r *Registry) InitVersion(ctx context.Context, uid int64) error {
	return r.rdb.SetNX(ctx, r.keys.Version(uid), 0, 0).Err()
}

// removeIfOwner deletes a route field only if it still names this connection.
var removeIfOwner = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// RemoveSession deletes a session's route unless a newer connection of the
// same device has replaced it meanwhile.
func (r *Registry) RemoveSession(ctx context.Context, uid int64, s Session) error {
	return removeIfOwner.Run(ctx, r.rdb, []string{r.keys.Route(uid)}, s.DeviceID, s.value()).Err()
}

// setMax sets each KEYS[i] to ARGV[i] unless it already holds a larger number.
var setMax = redis.NewScript(`
for i, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k) or '0')
  if tonumber(ARGV[i]) > cur then redis.call('SET', k, ARGV[i]) end
end
return 0`)

// hsetMax sets hash field ARGV[2i-1] of KEYS[i] to ARGV[2i] unless larger already.
var hsetMax = redis.NewScript(`
for i, k in ipairs(KEYS) do
  local f, v = ARGV[2*i-1], tonumber(ARGV[2*i])
  local cur = tonumber(redis.call('HGET', k, f) or '0')
  if v > cur then redis.call('HSET', k, f, v) end
end
return 0`)

// Ack is one device's cumulative ack.
type Ack struct {
	UserID   int64
	DeviceID string
	Version  uint64
}

// RecordAcks stores a batch of cumulative acks; a smaller version never
// overwrites a larger one.
func (r *Registry) RecordAcks(ctx context.Context, acks []Ack) error {
	if len(acks) == 0 {
		return nil
	}
	keys := make([]string, len(acks))
	args := make([]any, 0, 2*len(acks))
	for i, a := range acks {
		keys[i] = r.keys.Acks(a.UserID)
		args = append(args, a.DeviceID, a.Version)
	}
	return hsetMax.Run(ctx, r.rdb, keys, args...).Err()
}

// AckedVersion returns the version a device last acked (0 if none).
func (r *Registry) AckedVersion(ctx context.Context, uid int64, device string) (uint64, error) {
	v, err := r.rdb.HGet(ctx, r.keys.Acks(uid), device).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// Announce records new newest versions and returns the live sessions of each
// user, in one round trip for the writes and one for the lookups. See
// AddSession for why the order matters.
func (r *Registry) Announce(ctx context.Context, versions map[int64]uint64) (map[int64][]Session, error) {
	if len(versions) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(versions))
	args := make([]any, 0, len(versions))
	uids := make([]int64, 0, len(versions))
	for uid, v := range versions {
		uids = append(uids, uid)
		keys = append(keys, r.keys.Version(uid))
		args = append(args, v)
	}
	pipe := r.rdb.Pipeline()
	setMax.Run(ctx, pipe, keys, args...)
	gets := make([]*redis.MapStringStringCmd, len(uids))
	for i, uid := range uids {
		gets[i] = pipe.HGetAll(ctx, r.keys.Route(uid))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// A NOSCRIPT error is retried by Run with EVAL outside pipelines only.
		if !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return nil, err
		}
		if err := setMax.Run(ctx, r.rdb, keys, args...).Err(); err != nil {
			return nil, err
		}
		return r.Lookup(ctx, uids)
	}
	return r.collect(ctx, uids, gets)
}

// Lookup returns the live sessions of each user.
func (r *Registry) Lookup(ctx context.Context, uids []int64) (map[int64][]Session, error) {
	pipe := r.rdb.Pipeline()
	gets := make([]*redis.MapStringStringCmd, len(uids))
	for i, uid := range uids {
		gets[i] = pipe.HGetAll(ctx, r.keys.Route(uid))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	return r.collect(ctx, uids, gets)
}

func (r *Registry) collect(ctx context.Context, uids []int64, gets []*redis.MapStringStringCmd) (map[int64][]Session, error) {
	out := make(map[int64][]Session, len(uids))
	var nodes []string
	for i, uid := range uids {
		for dev, v := range gets[i].Val() {
			s, ok := parseSession(dev, v)
			if !ok {
				continue
			}
			out[uid] = append(out[uid], s)
			nodes = append(nodes, s.NodeID)
		}
	}
	alive, err := r.aliveNodes(ctx, nodes)
	if err != nil {
		return nil, err
	}
	for uid, ss := range out {
		kept := ss[:0]
		for _, s := range ss {
			if alive[s.NodeID] {
				kept = append(kept, s)
			} else {
				// A dead node's route: drop it so later lookups are cheaper.
				_ = removeIfOwner.Run(ctx, r.rdb, []string{r.keys.Route(uid)}, s.DeviceID, s.value()).Err()
			}
		}
		if len(kept) == 0 {
			delete(out, uid)
		} else {
			out[uid] = kept
		}
	}
	return out, nil
}

// NodesAlive reports which of the nodes have a live heartbeat key.
func (r *Registry) NodesAlive(ctx context.Context, nodes []string) (map[string]bool, error) {
	return r.aliveNodes(ctx, nodes)
}

// aliveNodes checks which of nodes have a live heartbeat key, trusting a
// positive answer for aliveFor to save round trips. Negative answers are
// never cached: a node that just started must get its jobs at once.
func (r *Registry) aliveNodes(ctx context.Context, nodes []string) (map[string]bool, error) {
	res := make(map[string]bool, 4)
	var unknown []string
	now := time.Now()
	r.mu.Lock()
	for _, n := range nodes {
		if _, done := res[n]; done {
			continue
		}
		if t, ok := r.alive[n]; ok && now.Sub(t) < r.aliveFor {
			res[n] = true
		} else {
			res[n] = false
			unknown = append(unknown, n)
		}
	}
	r.mu.Unlock()
	if len(unknown) == 0 {
		return res, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(unknown))
	for i, n := range unknown {
		cmds[i] = pipe.Exists(ctx, r.keys.Node(n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	for i, n := range unknown {
		if cmds[i].Val() == 1 {
			res[n] = true
			r.alive[n] = now
		} else {
			delete(r.alive, n)
		}
	}
	r.mu.Unlock()
	return res, nil
}

// ConnID builds a connection id unique across a node's restarts.
func ConnID(nodeStart int64, seq uint64) string {
	return fmt.Sprintf("%x.%x", nodeStart, seq)
}
