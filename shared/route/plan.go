package route

import (
	"slices"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// PlanByNode splits j over the nodes holding the live sessions in live
// (from Lookup): each node gets a copy of j whose Targets name the matching
// devices on that node, one target per session. A session matches when its
// user is a target of j (with the target's DeviceID, if set), its platform
// is in j.Platforms (if any), and keep (if not nil) accepts it. Nodes come
// out in a stable order.
func PlanByNode(j job.Job, live map[int64][]Session, keep func(uid int64, s Session) bool) []stream.NodeJob {
	var out []stream.NodeJob
	index := map[string]int{}
	for _, t := range j.Targets {
		for _, s := range live[t.UserID] {
			if t.DeviceID != "" && s.DeviceID != t.DeviceID {
				continue
			}
			if len(j.Platforms) > 0 && !slices.Contains(j.Platforms, s.Platform) {
				continue
			}
			if keep != nil && !keep(t.UserID, s) {
				continue
			}
			i, ok := index[s.NodeID]
			if !ok {
				i = len(out)
				index[s.NodeID] = i
				nj := stream.NodeJob{Node: s.NodeID, Job: j}
				nj.Job.Targets = nil
				out = append(out, nj)
			}
			tg := job.Target{UserID: t.UserID, DeviceID: s.DeviceID}
			if !slices.Contains(out[i].Job.Targets, tg) {
				out[i].Job.Targets = append(out[i].Job.Targets, tg)
			}
		}
	}
	slices.SortFunc(out, func(a, b stream.NodeJob) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out
}
