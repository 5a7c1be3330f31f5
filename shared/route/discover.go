package route

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
)

// Discovery answers "which push node should a client connect to". The API
// hands clients the nodes ReadyNodes returns, in LeastLoaded's order.

// ReadyNodes returns the nodes clients may be sent to: status ready, key
// alive, with a TCP address. Draining, hot-restarting, stopped and down
// nodes are never among them. Their Sessions are as of the last heartbeat
// (a third of the node TTL ago at most).
func (r *Registry) ReadyNodes(ctx context.Context) ([]Info, error) {
	all, err := r.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	ready := all[:0]
	for _, n := range all {
		if n.State == StateReady && n.TCPAddr != "" {
			ready = append(ready, n)
		}
	}
	return ready, nil
}

// Discover is LeastLoaded(ReadyNodes, limit).
func (r *Registry) Discover(ctx context.Context, limit int) ([]Info, error) {
	ready, err := r.ReadyNodes(ctx)
	if err != nil {
		return nil, err
	}
	return LeastLoaded(ready, limit), nil
}

// LeastLoaded returns up to limit (≤ 0: all) of nodes, least loaded first,
// in a new slice. Loads are compared in steps of 5% of the mean load (at
// least 64 sessions) and nodes in the same step come in random order: the
// loads are a heartbeat old, and clients that discover at the same moment
// should spread over nodes that are about equally loaded instead of all
// taking the one that was a few sessions lighter.
func LeastLoaded(nodes []Info, limit int) []Info {
	out := slices.Clone(nodes)
	if len(out) == 0 {
		return out
	}
	total := 0
	for _, n := range out {
		total += n.Sessions
	}
	step := max(64, total/len(out)/20)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	slices.SortStableFunc(out, func(a, b Info) int { return cmp.Compare(a.Sessions/step, b.Sessions/step) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
