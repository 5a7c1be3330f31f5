package stack

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/switches"
)

// apiSwitches are an API process's live switches: the registry its handlers
// read, the service that changes them (store, then Redis), and the follower
// that installs the other processes' changes (the Redis channel, and the
// database every reload interval as the fallback when Redis is down).
type apiSwitches struct {
	svc    *switches.Service
	follow *switches.Follower
}

func newAPISwitches(ctx context.Context, db *store.DB, rdb redis.UniversalClient, prefix string, m *metrics.Metrics) apiSwitches {
	reg := switches.NewRegistry(switches.Catalogue)
	bus := switches.NewRedisBus(rdb, prefix)
	st := store.NewSwitchStore(db)
	f := &switches.Follower{Registry: reg, Bus: bus, Source: st.Snapshot, Repair: true}
	f.Start(ctx)
	m.Register(switches.NewCollector(reg))
	return apiSwitches{svc: &switches.Service{Store: st, Registry: reg, Publisher: bus}, follow: f}
}

// pushSwitches are a push node's live switches. Push nodes have no
// database: they follow the Redis channel, reload the Redis hash every
// reload interval, and keep the last known values in a local file that
// they load at start when Redis cannot answer.
func newPushSwitches(ctx context.Context, cfg config.PushConfig, rdb redis.UniversalClient, m *metrics.Metrics) *switches.Follower {
	reg := switches.NewRegistry(switches.Catalogue)
	bus := switches.NewRedisBus(rdb, cfg.Redis.Prefix)
	f := &switches.Follower{Registry: reg, Bus: bus, Source: bus.Latest, File: cfg.SwitchesPath()}
	f.Start(ctx)
	m.Register(switches.NewCollector(reg))
	return f
}
