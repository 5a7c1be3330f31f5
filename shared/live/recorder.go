package live

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Publisher receives each new snapshot (Redis implements it).
type Publisher interface {
	Publish(ctx context.Context, s Snapshot) error
}

// Config describes the process a Recorder records.
type Config struct {
	Process string // unique in the cluster: a push node's id, "dev", an API's host and pid
	Role    string // RoleAPI, RolePush or RoleDev
	// Publish, when set, receives every snapshot as it is taken (Redis,
	// so that other processes see this one).
	Publish Publisher
	Log     *slog.Logger
}

// publishTimeout bounds one publish: a slow Redis costs the cluster view
// a second of this process, never the recorder's next second.
const publishTimeout = 500 * time.Millisecond

// Recorder takes a snapshot of a registry every second and keeps the last
// RingSize of them.
type Recorder struct {
	cfg  Config
	g    prometheus.Gatherer
	ring ring

	prev   gathering
	prevAt time.Time
	warned time.Time // last publish failure logged
}

// NewRecorder records g, a process's registry (shared/metrics Gatherer).
func NewRecorder(g prometheus.Gatherer, cfg Config) *Recorder {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg, g: g}
}

// Process is the recorded process's id.
func (r *Recorder) Process() string { return r.cfg.Process }

// Role is the recorded process's role.
func (r *Recorder) Role() string { return r.cfg.Role }

// Run takes a snapshot at every whole second until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	r.step(ctx, time.Now()) // the baseline: counts start from here
	for {
		now := time.Now()
		t := time.NewTimer(now.Truncate(time.Second).Add(time.Second).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case at := <-t.C:
			r.step(ctx, at)
		}
	}
}

// step gathers at at and, after the first gathering, records and publishes
// the second since the previous one.
func (r *Recorder) step(ctx context.Context, at time.Time) {
	cur, err := gather(r.g)
	if err != nil && time.Since(r.warned) > time.Minute {
		r.warned = time.Now()
		r.cfg.Log.Warn("live: gathering metrics failed; the snapshot is partial", "err", err)
	}
	prev, from := r.prev, r.prevAt
	r.prev, r.prevAt = cur, at
	if prev == nil {
		return
	}
	s := build(r.cfg.Process, r.cfg.Role, prev, cur, from, at)
	r.ring.add(s)
	if r.cfg.Publish == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := r.cfg.Publish.Publish(pctx, s); err != nil && ctx.Err() == nil && time.Since(r.warned) > time.Minute {
		r.warned = time.Now()
		r.cfg.Log.Warn("live: publishing the snapshot to redis failed; other processes do not see this one", "err", err)
	}
}

// Last returns up to n of the newest snapshots, oldest first.
func (r *Recorder) Last(n int) []Snapshot { return r.ring.last(n, time.Time{}) }

// Since returns the snapshots taken after t, oldest first.
func (r *Recorder) Since(t time.Time) []Snapshot { return r.ring.last(RingSize, t) }
