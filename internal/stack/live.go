package stack

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
)

// liveTable is a process's per-second table (shared/live): the recorder the
// admin's GET /live reads, publishing each second to Redis, which the
// admin's GET /live/cluster reads back for every process.
type liveTable struct {
	rec     *live.Recorder
	cluster live.ClusterReader
	stop    context.CancelFunc
}

// startLive records m's registry every second on a goroutine owned by run,
// until stop is called.
func startLive(run *runner, m *metrics.Metrics, rdb redis.UniversalClient, prefix, process, role string, log *slog.Logger) *liveTable {
	pub := live.NewRedis(rdb, prefix)
	rec := live.NewRecorder(m.Gatherer(), live.Config{Process: process, Role: role, Publish: pub, Log: log})
	ctx, stop := context.WithCancel(context.Background())
	run.goFunc("live", func() error { rec.Run(ctx); return nil })
	return &liveTable{rec: rec, cluster: pub, stop: stop}
}

// apiProcessID names an API process in the cluster view: its host (the pod,
// in Kubernetes) and pid, unique among processes publishing at once.
func apiProcessID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("api-%s-%d", host, os.Getpid())
}
