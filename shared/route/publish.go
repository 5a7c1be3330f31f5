package route

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/job"
)

// Stream caps. XADD trims approximately (MAXLEN ~), which costs nothing
// extra; trimmed entries are transient pushes whose time has passed, or
// messages that clients recover by sync.
const (
	// DefaultStreamMaxLen caps a node's job stream when a publisher names no cap.
	DefaultStreamMaxLen = 100000
	// DefaultBroadcastMaxLen caps the broadcast stream when a publisher names
	// no cap. It also bounds what a restarted node can catch up on.
	DefaultBroadcastMaxLen = 10000
)

// NodeJob is a job bound for one node's stream.
type NodeJob struct {
	Node string
	Job  job.Job
}

// PublishBroadcast appends a KindBroadcast job to the broadcast stream, which
// every node reads with its own consumer group, and returns the entry id.
// EnqueuedMS is set if zero. maxLen <= 0 means DefaultBroadcastMaxLen.
func (r *Registry) PublishBroadcast(ctx context.Context, j job.Job, maxLen int64) (string, error) {
	if j.Kind != job.KindBroadcast {
		return "", errors.New("route: PublishBroadcast needs a broadcast job")
	}
	if maxLen <= 0 {
		maxLen = DefaultBroadcastMaxLen
	}
	b, err := encode(j)
	if err != nil {
		return "", err
	}
	return r.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: r.keys.Broadcast(),
		MaxLen: maxLen,
		Approx: true,
		Values: []any{job.Field, b},
	}).Result()
}

// PublishToNodes appends each job to its node's stream, in one round trip.
// maxLen <= 0 means DefaultStreamMaxLen.
func (r *Registry) PublishToNodes(ctx context.Context, jobs []NodeJob, maxLen int64) error {
	if len(jobs) == 0 {
		return nil
	}
	if maxLen <= 0 {
		maxLen = DefaultStreamMaxLen
	}
	pipe := r.rdb.Pipeline()
	for _, nj := range jobs {
		b, err := encode(nj.Job)
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: r.keys.Stream(nj.Node),
			MaxLen: maxLen,
			Approx: true,
			Values: []any{job.Field, b},
		})
	}
	_, err := pipe.Exec(ctx)
	return err
}

// PublishPush routes a transient KindPush job to the nodes that hold live
// sessions of its targets: one stream entry per node, naming exactly the
// sessions there that match the job (a target's DeviceID, and Platforms).
// It returns how many sessions the job was routed to; users without a live
// session are skipped (a transient push is never stored).
func (r *Registry) PublishPush(ctx context.Context, j job.Job, maxLen int64) (int, error) {
	if j.Kind != job.KindPush {
		return 0, errors.New("route: PublishPush needs a push job")
	}
	uids := make([]int64, 0, len(j.Targets))
	for _, t := range j.Targets {
		if !slices.Contains(uids, t.UserID) {
			uids = append(uids, t.UserID)
		}
	}
	live, err := r.Lookup(ctx, uids)
	if err != nil {
		return 0, err
	}
	jobs := PlanByNode(j, live, nil)
	n := 0
	for _, nj := range jobs {
		n += len(nj.Job.Targets)
	}
	return n, r.PublishToNodes(ctx, jobs, maxLen)
}

// PlanByNode splits j over the nodes holding the live sessions in live
// (from Lookup): each node gets a copy of j whose Targets name the matching
// devices on that node, one target per session. A session matches when its
// user is a target of j (with the target's DeviceID, if set), its platform
// is in j.Platforms (if any), and keep (if not nil) accepts it. Nodes come
// out in a stable order.
func PlanByNode(j job.Job, live map[int64][]Session, keep func(uid int64, s Session) bool) []NodeJob {
	var out []NodeJob
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
				nj := NodeJob{Node: s.NodeID, Job: j}
				nj.Job.Targets = nil
				out = append(out, nj)
			}
			tg := job.Target{UserID: t.UserID, DeviceID: s.DeviceID}
			if !slices.Contains(out[i].Job.Targets, tg) {
				out[i].Job.Targets = append(out[i].Job.Targets, tg)
			}
		}
	}
	slices.SortFunc(out, func(a, b NodeJob) int {
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

func encode(j job.Job) ([]byte, error) {
	if j.EnqueuedMS == 0 {
		j.EnqueuedMS = time.Now().UnixMilli()
	}
	return job.Encode(j)
}
