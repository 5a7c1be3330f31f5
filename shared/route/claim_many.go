package route

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// ClaimRequest is one session to Claim in a ClaimMany batch.
type ClaimRequest struct {
	UserID  int64
	Session Session
}

// ClaimResult is what Claim returns for one request of a ClaimMany batch.
type ClaimResult struct {
	Version uint64
	OK      bool
	Prev    []Session
	Err     error
}

// ClaimMany claims many sessions, each exactly as Claim does (the same
// script, so the same atomicity per user), in one pipeline: a push node
// registers the sessions of a connect storm in one round trip per batch
// instead of one each. Checking which nodes the previous sessions are on
// uses the registry's cache of live nodes, as Claim does. out must have
// len(reqs) elements.
func (r *Registry) ClaimMany(ctx context.Context, reqs []ClaimRequest, out []ClaimResult) {
	pipe := r.rdb.Pipeline()
	cls := make([]*redis.Cmd, len(reqs))
	gets := make([]*redis.StringCmd, len(reqs))
	for i, q := range reqs {
		cls[i] = claimRoute.Eval(ctx, pipe, []string{r.keys.Route(q.UserID)}, q.Session.DeviceID, q.Session.value())
		gets[i] = pipe.Get(ctx, r.keys.Version(q.UserID))
	}
	// A failed Exec still sets each command's own error, read below.
	_, _ = pipe.Exec(ctx)
	for i, q := range reqs {
		out[i] = r.claimed(ctx, q.Session, cls[i], gets[i])
	}
}

// claimed turns one claim's replies into its result, as Claim does.
func (r *Registry) claimed(ctx context.Context, s Session, cl *redis.Cmd, get *redis.StringCmd) ClaimResult {
	fields, err := cl.StringSlice()
	if err != nil {
		return ClaimResult{Err: err}
	}
	var prev []Session
	var nodes []string
	for i := 0; i+1 < len(fields); i += 2 {
		p, valid := parseSession(fields[i], fields[i+1])
		if !valid || p.ConnID == s.ConnID && p.NodeID == s.NodeID {
			continue
		}
		prev = append(prev, p)
		nodes = append(nodes, p.NodeID)
	}
	res := ClaimResult{}
	res.Version, err = get.Uint64()
	switch {
	case errors.Is(err, redis.Nil):
		res.Version = 0
	case err != nil:
		return ClaimResult{Err: err}
	default:
		res.OK = true
	}
	if len(prev) == 0 {
		return res
	}
	res.Prev = prev
	alive, aerr := r.aliveNodes(ctx, nodes)
	if aerr != nil {
		return res
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
	res.Prev = kept
	return res
}
