// Package metrics is the one dispatch point through which every unit of work
// in Tether passes: push commands and jobs, API routes, Redis and SQL calls.
// Each is counted, timed, and checked against its time budget, so the
// per-second view of the talk (cmd, cmdtime, htime, error, redis_p, redis_t)
// falls out of the same counters. Both binaries expose them in Prometheus
// format on their admin address.
package metrics

import (
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Layers name where a unit of work runs. They are label values, so keep the set small.
const (
	LayerPush  = "push"  // frames handled by a push node
	LayerJob   = "job"   // stream jobs handled by a push node
	LayerHTTP  = "http"  // API routes
	LayerRedis = "redis" // Redis commands, from either binary
	LayerSQL   = "sql"   // SQL statements from the API
	LayerRelay = "relay" // outbox relay batches
)

// Buckets are the bounds, in seconds, of tether_call_seconds.
var Buckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Metrics holds one process's counters. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	slow     *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
	caches   *prometheus.CounterVec // cache.go
	overrun  *overrunLog

	mu         sync.Mutex
	collectors []prometheus.Collector // everything registered, for Families
}

// Option configures New.
type Option func(*Metrics)

// WithLogger sets where overrun lines go (default slog.Default()); give it
// the process's logger, carrying the node id where there is one.
func WithLogger(l *slog.Logger) Option {
	return func(m *Metrics) { m.overrun.log = l }
}

// New returns a Metrics with its own registry (so tests and several servers
// in one process do not collide), including Go runtime and process collectors.
func New(opts ...Option) *Metrics {
	m := &Metrics{
		overrun: newOverrunLog(slog.Default()),
		reg:     prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_calls_total", Help: "Units of work handled, by layer and name.",
		}, []string{"layer", "name"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_errors_total", Help: "Units of work that failed, by layer, name and class (client: the caller's mistake; server: ours or a dependency's).",
		}, []string{"layer", "name", "class"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_timeouts_total", Help: "Units of work that overran their time budget, by layer and name.",
		}, []string{"layer", "name"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_call_seconds",
			Help:    "Time spent per unit of work, by layer and name.",
			Buckets: Buckets,
		}, []string{"layer", "name"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tether_inflight", Help: "Units of work in progress, by layer.",
		}, []string{"layer"}),
		caches: newCacheCounter(),
	}
	for _, o := range opts {
		o(m)
	}
	m.Register(m.calls, m.errors, m.slow, m.seconds, m.inflight, m.caches,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds more collectors (gauges owned by a component) to this registry.
func (m *Metrics) Register(cs ...prometheus.Collector) {
	m.reg.MustRegister(cs...)
	m.mu.Lock()
	m.collectors = append(m.collectors, cs...)
	m.mu.Unlock()
}

func (m *Metrics) describe(ch chan<- *prometheus.Desc) {
	m.mu.Lock()
	cs := slices.Clone(m.collectors)
	m.mu.Unlock()
	for _, c := range cs {
		c.Describe(ch)
	}
}

// Begin starts timing one unit of work; call the returned func with its
// outcome exactly once. budget <= 0 means no budget. ids (user, connection,
// request, entry: never bodies or secrets) go into the line logged if the
// unit overruns its budget; a slog.LogValuer is resolved only then.
func (m *Metrics) Begin(layer, name string, budget time.Duration, ids ...slog.Attr) func(err error) {
	start := time.Now()
	g := m.inflight.WithLabelValues(layer)
	g.Inc()
	return func(err error) {
		g.Dec()
		m.Observe(layer, name, time.Since(start), err, budget, ids...)
	}
}

// Observe records one finished unit of work. err counts as an error of
// ClassOf(err); expected answers (a missing key, an existing group) must be
// passed as nil. An overrun is counted and logged (see overrun.go) with ids.
func (m *Metrics) Observe(layer, name string, d time.Duration, err error, budget time.Duration, ids ...slog.Attr) {
	m.calls.WithLabelValues(layer, name).Inc()
	m.seconds.WithLabelValues(layer, name).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(layer, name, ClassOf(err)).Inc()
	}
	if budget > 0 && d > budget {
		m.slow.WithLabelValues(layer, name).Inc()
		m.overrun.overran(layer, name, d, budget, err, ids)
	}
}

// Handler serves the registry in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer exposes the registry for tests and in-process views.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }
