// Package live is the talk's per-second table: every second a process turns
// its Prometheus registry (shared/metrics and the gauges components register
// there) into a Snapshot of what happened in that second, keeps the last ten
// minutes of them in a ring, and publishes the newest to Redis so that any
// process, `tether top` and the ops page can show the whole cluster.
//
// Nothing is counted here: a snapshot is the difference between two
// gatherings of counters that exist for Prometheus anyway (one home per
// idea), plus the gauges read at the second's end.
package live

import "time"

// Snapshot is one process's second. Counts (calls, timeouts, errors, hits,
// bytes, GC cycles) are what happened during the interval that ends at At
// and lasts Seconds (about one); gauges (backlog, pools, sessions, runtime)
// are read at At. Sections a process does not have stay empty: an API has
// no sessions, a push node no pools.
type Snapshot struct {
	Process string    `json:"process"` // the process: a push node's id, "dev", or an API's host and pid
	Role    string    `json:"role"`    // RoleAPI, RolePush or RoleDev; "cluster" for a sum
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`

	// Work is every unit of work the process handled (layers push, job,
	// http, relay): the table's cmd, cmdtime (p50/p99), htime and error.
	// Timeouts and errors also include the dependency calls (Deps).
	Work  Summary `json:"work"`
	Units []Unit  `json:"units"` // each unit (layer and name) that ran in the interval, busiest first
	Deps  []Dep   `json:"deps"`  // calls and time to each dependency: "sql" and "redis" (cmdc_p/t, redis_p/t)

	Backlog  Backlog  `json:"backlog"`  // cmdq
	Pools    []Pool   `json:"pools"`    // work0/workq0, one per business (internal/bulkhead)
	Sessions Sessions `json:"sessions"` // push nodes
	Runtime  Runtime  `json:"runtime"`
	Net      Net      `json:"net"`
	Caches   []Cache  `json:"caches"`
}

// Roles of a process.
const (
	RoleAPI     = "api"
	RolePush    = "push"
	RoleDev     = "dev" // API and push node in one process
	RoleCluster = "cluster"
)

// Summary is calls, latency, timeouts and failures of a set of units.
type Summary struct {
	Calls        int64   `json:"calls"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	Timeouts     int64   `json:"timeouts"`      // units that overran their budget
	Errors       int64   `json:"errors"`        // server failures: ours or a dependency's
	ClientErrors int64   `json:"client_errors"` // the caller's mistakes (4xx, bad frames): not a health signal
	// Hist is the latency histogram behind P50MS and P99MS (non-empty
	// buckets only), so a cluster's quantiles are computed, not guessed.
	Hist []Bucket `json:"hist,omitempty"`
}

// Bucket is one histogram bucket: N observations of at most LeMS
// milliseconds and more than the previous bucket's bound. LeMS is -1 for
// the bucket above the last bound.
type Bucket struct {
	LeMS float64 `json:"le_ms"`
	N    int64   `json:"n"`
}

// Unit is one unit of work (a frame type, a job kind, a route, a Redis
// command, a SQL statement kind) in the interval.
type Unit struct {
	Layer string `json:"layer"` // shared/metrics: push, job, http, relay, redis, sql
	Name  string `json:"name"`
	Summary
}

// Dep is the process's calls to one dependency in the interval.
type Dep struct {
	Name   string  `json:"name"`    // "sql" (MySQL, SQLite in dev) or "redis"
	TimeMS float64 `json:"time_ms"` // time spent in its calls, summed
	Summary
}

// Backlog is work waiting: the table's cmdq.
type Backlog struct {
	Outbox    int64    `json:"outbox"`     // outbox rows not yet relayed (API)
	Webhook   int64    `json:"webhook"`    // webhook deliveries pending (API)
	Streams   []Stream `json:"streams"`    // job streams read by this process (push)
	SlowBytes int64    `json:"slow_bytes"` // bytes queued to client connections, not yet taken by their sockets (push)
	SlowConns int64    `json:"slow_conns"` // connections with bytes queued (push)
}

// Stream is the backlog of one node's job stream.
type Stream struct {
	Node    string `json:"node"`
	Lag     int64  `json:"lag"`     // entries not yet delivered to the node's group
	Pending int64  `json:"pending"` // entries delivered but not yet acked
}

// Pool is one business's bulkhead.
type Pool struct {
	Name    string `json:"pool"`
	Busy    int64  `json:"busy"`    // work running (work0)
	Queued  int64  `json:"queued"`  // work waiting for a worker (workq0)
	Workers int64  `json:"workers"` // capacity
	Queue   int64  `json:"queue"`   // queue capacity
	Shed    int64  `json:"shed"`    // work refused with overloaded in the interval
}

// Sessions are a push node's connections.
type Sessions struct {
	Total       int64            `json:"total"`       // connections: handshaking + logged in
	Handshaking int64            `json:"handshaking"` // connected, not logged in yet
	LoggedIn    int64            `json:"logged_in"`
	ByPlatform  map[string]int64 `json:"by_platform"` // logged in, by platform
}

// Runtime is the Go runtime of the process.
type Runtime struct {
	Goroutines int64   `json:"goroutines"`
	HeapBytes  int64   `json:"heap_bytes"`  // heap in use (allocated, not yet freed)
	GC         int64   `json:"gc"`          // GC cycles in the interval
	GCPauseMS  float64 `json:"gc_pause_ms"` // stop-the-world time in the interval
}

// Net is network traffic in the interval, as the kernel counts it for the
// process's network namespace: the pod, in Kubernetes (processes sharing a
// host's namespace each report the host's traffic).
type Net struct {
	RxBytes int64 `json:"rx_bytes"`
	TxBytes int64 `json:"tx_bytes"`
}

// Cache is one in-process or Redis cache's lookups in the interval.
type Cache struct {
	Name    string  `json:"cache"` // shared/metrics: api_key, revocation, version
	Hits    int64   `json:"hits"`
	Misses  int64   `json:"misses"`
	HitRate float64 `json:"hit_rate"` // hits / lookups; 0 without lookups
}
