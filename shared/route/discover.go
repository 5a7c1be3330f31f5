package route

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
)

// Discover answers "which push node should a client connect to": up to
// limit (≤ 0: all) nodes in StateReady whose key is alive, with a TCP
// address, least loaded (fewest sessions) first. Nodes of equal load come
// in random order, so clients discovering at the same moment spread over
// them. Draining, hot-restarting, stopped and down nodes are never
// returned. It reads the node statuses (Nodes), which every heartbeat
// refreshes: the load is as old as the last heartbeat (a third of the node
// TTL).
func (r *Registry) Discover(ctx context.Context, limit int) ([]Info, error) {
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
	rand.Shuffle(len(ready), func(i, j int) { ready[i], ready[j] = ready[j], ready[i] })
	slices.SortStableFunc(ready, func(a, b Info) int { return cmp.Compare(a.Sessions, b.Sessions) })
	if limit > 0 && len(ready) > limit {
		ready = ready[:limit]
	}
	return ready, nil
}
