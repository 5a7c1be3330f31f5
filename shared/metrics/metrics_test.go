package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
)

func TestObserve_CountsCallsErrorsAndBudgetOverruns(t *testing.T) {
	m := New()
	m.Observe(LayerPush, "ping", time.Millisecond, nil, 10*time.Millisecond)
	m.Observe(LayerPush, "ping", 20*time.Millisecond, nil, 10*time.Millisecond)
	m.Observe(LayerPush, "ping", time.Millisecond, errors.New("boom"), 0)
	done := m.Begin(LayerJob, "message", time.Hour)
	if got := testutil.ToFloat64(m.inflight.WithLabelValues(LayerJob)); got != 1 {
		t.Fatalf("inflight during Begin = %v", got)
	}
	done(nil)

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"calls", testutil.ToFloat64(m.calls.WithLabelValues(LayerPush, "ping")), 3},
		{"errors", testutil.ToFloat64(m.errors.WithLabelValues(LayerPush, "ping", ClassServer)), 1},
		{"timeouts", testutil.ToFloat64(m.slow.WithLabelValues(LayerPush, "ping")), 1},
		{"job calls", testutil.ToFloat64(m.calls.WithLabelValues(LayerJob, "message")), 1},
		{"inflight after", testutil.ToFloat64(m.inflight.WithLabelValues(LayerJob)), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestInstrumentRedis_CountsCommandsAndPipelinesButNotMissingKeys(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	m := New()
	m.InstrumentRedis(rdb)
	ctx := context.Background()
	rdb.Set(ctx, prefix+"k", "v", time.Minute)
	rdb.Get(ctx, prefix+"missing") // redis.Nil is an answer, not an error
	pipelines := func() float64 { return testutil.ToFloat64(m.calls.WithLabelValues(LayerRedis, "pipeline")) }
	// go-redis pipelines its own connection set-up (CLIENT SETINFO) lazily
	// after the first command on a connection; warm the connection first.
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, prefix+"k"); return nil }); err != nil {
		t.Fatal(err)
	}
	before := pipelines()
	pipe := rdb.Pipeline()
	pipe.Get(ctx, prefix+"k")
	pipe.Get(ctx, prefix+"k")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.calls.WithLabelValues(LayerRedis, "set")); got != 1 {
		t.Errorf("set calls = %v", got)
	}
	if got := testutil.ToFloat64(m.calls.WithLabelValues(LayerRedis, "get")); got != 1 { // pipelined GETs count as the pipeline
		t.Errorf("get calls = %v", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues(LayerRedis, "get", ClassServer)); got != 0 {
		t.Errorf("get errors = %v (a missing key counted as an error)", got)
	}
	if got := pipelines() - before; got != 1 {
		t.Errorf("one Exec counted as %v pipelines", got)
	}
}
