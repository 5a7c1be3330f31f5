package route

import (
	"context"
	"fmt"
	"time"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// CodeKicked is wire.CodeKicked, the code of an operator's kick (route
// does not import push/wire; a push test checks the two agree).
const CodeKicked uint16 = 16

// KickUser ends every live session of a user, on whichever nodes hold them,
// with a Kick frame of code and reason: one job.KindKick per node, through
// pub. It returns how many sessions the jobs name. Sessions opened after
// now are spared (the job's EnqueuedMS), so a kick read late never ends a
// newer login.
func KickUser(ctx context.Context, reg *Registry, pub stream.Publisher, userID int64, code uint16, reason string) (int, error) {
	live, err := reg.Lookup(ctx, []int64{userID})
	if err != nil {
		return 0, err
	}
	now := time.Now().UnixMilli()
	jobs := PlanByNode(job.Job{
		ID:         fmt.Sprintf("kick-user-%d-%d", userID, now),
		Kind:       job.KindKick,
		Targets:    []job.Target{{UserID: userID}},
		EnqueuedMS: now,
		Code:       code,
		Reason:     reason,
	}, live, nil)
	if len(jobs) == 0 {
		return 0, nil
	}
	if err := pub.Publish(ctx, jobs); err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		n += len(j.Job.Targets)
	}
	return n, nil
}

// ControlNode asks one node to drain or hot-restart (kind job.KindDrain or
// job.KindHotRestart) through its job stream. The job expires after
// job.ControlTTL, and a node ignores a control job enqueued before its
// process started, so a job read late (after a crash, or by the new process
// of a hot restart) never acts twice.
func ControlNode(ctx context.Context, pub stream.Publisher, nodeID string, kind job.Kind, reason string) error {
	now := time.Now()
	return pub.Publish(ctx, []stream.NodeJob{{Node: nodeID, Job: job.Job{
		ID:         fmt.Sprintf("%s-%s-%d", kind, nodeID, now.UnixMilli()),
		Kind:       kind,
		EnqueuedMS: now.UnixMilli(),
		ExpiresMS:  now.Add(job.ControlTTL).UnixMilli(),
		Reason:     reason,
	}}})
}
