package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/dephealth"
	"github.com/tetherim/tether/shared/metrics"
)

// Dependency health, checked in the background so /healthz and the
// tether_dependency_* gauges stay current between probes.
const (
	probeInterval = 5 * time.Second
	probeTimeout  = 2 * time.Second
)

// apiHealth is the dependencies of an API process. Chat (send, sync) needs
// only the database and a schema this binary can run on: they decide
// readiness. Redis is a weak dependency of the API (the relay catches up
// and pushes resume after an outage), so it is only reported: an API that
// took itself out of service on a Redis outage would stop chat for nothing.
type apiHealth struct {
	set                 *dephealth.Set
	database, schema, r *dephealth.Dep
	db                  *store.DB
	rdb                 redis.UniversalClient
}

func newAPIHealth(db *store.DB, rdb redis.UniversalClient, m *metrics.Metrics) *apiHealth {
	s := dephealth.NewSet()
	h := &apiHealth{
		set: s, db: db, rdb: rdb,
		database: s.Add("database", nil),
		schema:   s.Add("schema", nil),
		r:        s.Add("redis", dephealth.RedisRefused),
	}
	m.Register(s.Collector())
	return h
}

// ready checks what chat needs: the database answers and its schema is in
// this binary's window.
func (h *apiHealth) ready(ctx context.Context) error {
	if err := h.database.Check(ctx, h.db.Ping); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := h.schema.Check(ctx, h.db.CheckSchema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}

// run probes every dependency until ctx ends.
func (h *apiHealth) run(ctx context.Context) {
	dephealth.Run(ctx, probeInterval, probeTimeout,
		dephealth.Probe{Dep: h.database, Fn: h.db.Ping},
		dephealth.Probe{Dep: h.schema, Fn: h.db.CheckSchema},
		dephealth.Probe{Dep: h.r, Fn: func(ctx context.Context) error { return h.rdb.Ping(ctx).Err() }},
	)
}

// checks are the readiness checks of the API's admin /readyz.
func (h *apiHealth) checks() []check {
	return []check{{"database and schema", h.ready}}
}
