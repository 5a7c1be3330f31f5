package route

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// claimRoute returns a user's route hash as it was, then writes one field,
// atomically: of two logins racing on different nodes, exactly one sees the
// other, so a multi-device policy picks one winner instead of none or both.
var claimRoute = redis.NewScript(`
local prev = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return prev`)

// Claim records a live session like AddSession and also returns the user's
// sessions as they were just before, on live nodes only: the sessions a
// multi-device policy may have to end. prev includes the route s replaced
// (the same device on another connection) but never s itself.
//
// The route and version keys are touched in one pipeline but by separate
// commands, so Claim works on Redis Cluster too. If checking which nodes are
// alive fails, prev is returned unfiltered: a job for a dead node's stream is
// never read by a live session.
func (r *Registry) Claim(ctx context.Context, uid int64, s Session) (version uint64, ok bool, prev []Session, err error) {
	pipe := r.rdb.Pipeline()
	// EVAL, not EVALSHA: a pipeline cannot recover from NOSCRIPT, and the
	// script is a few dozen bytes.
	cl := claimRoute.Eval(ctx, pipe, []string{r.keys.Route(uid)}, s.DeviceID, s.value())
	get := pipe.Get(ctx, r.keys.Version(uid))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, nil, err
	}
	fields, err := cl.StringSlice()
	if err != nil {
		return 0, false, nil, err
	}
	var nodes []string
	for i := 0; i+1 < len(fields); i += 2 {
		p, valid := parseSession(fields[i], fields[i+1])
		if !valid || p.ConnID == s.ConnID && p.NodeID == s.NodeID {
			continue
		}
		prev = append(prev, p)
		nodes = append(nodes, p.NodeID)
	}
	version, err = get.Uint64()
	switch {
	case errors.Is(err, redis.Nil):
		version, ok = 0, false
	case err != nil:
		return 0, false, nil, err
	default:
		ok = true
	}
	if len(prev) == 0 {
		return version, ok, nil, nil
	}
	alive, aerr := r.aliveNodes(ctx, nodes)
	if aerr != nil {
		return version, ok, prev, nil
	}
	kept := prev[:0]
	for _, p := range prev {
		if alive[p.NodeID] {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	return version, ok, kept, nil
}
