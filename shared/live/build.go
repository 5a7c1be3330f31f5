// build turns two gatherings into the second between them. The family names
// are those the components register; a test checks each against a real
// stack's registry (Families), so a renamed metric fails a test instead of
// leaving a column at zero.

package live

import (
	"slices"
	"strings"
	"time"

	"github.com/tetherim/tether/shared/metrics"
)

// The families a snapshot reads.
const (
	famCalls    = "tether_calls_total"    // shared/metrics
	famErrors   = "tether_errors_total"   // shared/metrics
	famTimeouts = "tether_timeouts_total" // shared/metrics
	famSeconds  = "tether_call_seconds"   // shared/metrics
	famCaches   = "tether_cache_lookups_total"

	famOutbox       = "tether_outbox_backlog"  // api/relay
	famWebhook      = "tether_webhook_backlog" // api/webhook
	famStreamLag    = "tether_stream_lag"      // shared/stream
	famStreamPend   = "tether_stream_pending"  // shared/stream
	famQueuedBytes  = "tether_push_queued_bytes"
	famQueuedConns  = "tether_push_queued_conns"
	famSessions     = "tether_push_sessions"   // push
	famHandshakes   = "tether_push_handshakes" // push
	famPoolBusy     = "tether_bulkhead_busy"   // internal/bulkhead
	famPoolQueued   = "tether_bulkhead_queued"
	famPoolWorkers  = "tether_bulkhead_workers"
	famPoolCapacity = "tether_bulkhead_queue_capacity"
	famPoolShed     = "tether_bulkhead_shed_total"

	famGoroutines = "go_goroutines"
	famHeap       = "go_memstats_heap_alloc_bytes"
	famGC         = "go_gc_duration_seconds"
	famNetRx      = "process_network_receive_bytes_total"
	famNetTx      = "process_network_transmit_bytes_total"
)

// Families lists every metric family a snapshot reads. A family a process
// lacks leaves its column at zero, so tests check each against the
// registries of real processes (internal/stack live_test.go).
func Families() []string {
	return []string{famCalls, famErrors, famTimeouts, famSeconds, famCaches,
		famOutbox, famWebhook, famStreamLag, famStreamPend, famQueuedBytes, famQueuedConns, famSessions, famHandshakes,
		famPoolBusy, famPoolQueued, famPoolWorkers, famPoolCapacity, famPoolShed,
		famGoroutines, famHeap, famGC, famNetRx, famNetTx}
}

// workLayers are the layers whose units are the process's own work (cmd);
// the others are calls to a dependency, named by depOf.
var workLayers = []string{metrics.LayerPush, metrics.LayerJob, metrics.LayerHTTP, metrics.LayerRelay}

var depOf = map[string]string{metrics.LayerSQL: "sql", metrics.LayerRedis: "redis"}

// depNames orders Deps.
var depNames = []string{"sql", "redis"}

// build returns the snapshot of the interval from prev (taken at from) to
// cur (taken at at).
func build(process, role string, prev, cur gathering, from, at time.Time) Snapshot {
	s := Snapshot{Process: process, Role: role, At: at.UTC().Round(time.Millisecond), Seconds: round3(at.Sub(from).Seconds()),
		Units: []Unit{}, Backlog: Backlog{Streams: []Stream{}}, Pools: []Pool{}}
	s.units(prev, cur)
	s.gauges(cur)
	s.Backlog.Streams = streams(cur)
	s.Pools = pools(prev, cur)
	s.Runtime = Runtime{
		Goroutines: int64(cur.gauge(famGoroutines)),
		HeapBytes:  int64(cur.gauge(famHeap)),
		GC:         int64(cur.delta(prev, famGC, "")),
	}
	if gc, p := cur[famGC][""], prev[famGC][""]; gc != nil && p != nil && gc.sum >= p.sum {
		s.Runtime.GCPauseMS = round3((gc.sum - p.sum) * 1000)
	}
	s.Net = Net{RxBytes: int64(cur.delta(prev, famNetRx, "")), TxBytes: int64(cur.delta(prev, famNetTx, ""))}
	s.Caches = caches(prev, cur)
	return s
}

// units fills Work, Units and Deps from the dispatch point's families.
func (s *Snapshot) units(prev, cur gathering) {
	byKey := map[string]*Unit{}
	timeMS := map[string]float64{} // by key: time spent in the unit's calls
	var order []string
	unit := func(l map[string]string) *Unit {
		k := l["layer"] + "\x00" + l["name"]
		u := byKey[k]
		if u == nil {
			u = &Unit{Layer: l["layer"], Name: l["name"]}
			byKey[k] = u
			order = append(order, k)
		}
		return u
	}
	cur.each(famCalls, func(key string, se *series) {
		if n := int64(cur.delta(prev, famCalls, key)); n > 0 {
			u := unit(se.labels)
			u.Calls = n
			u.Hist, timeMS[u.Layer+"\x00"+u.Name] = cur.histDelta(prev, famSeconds, key)
		}
	})
	cur.each(famTimeouts, func(key string, se *series) {
		if n := int64(cur.delta(prev, famTimeouts, key)); n > 0 {
			unit(se.labels).Timeouts += n
		}
	})
	cur.each(famErrors, func(key string, se *series) {
		n := int64(cur.delta(prev, famErrors, key))
		if n == 0 {
			return
		}
		u := unit(se.labels)
		if se.labels["class"] == metrics.ClassClient {
			u.ClientErrors += n
		} else {
			u.Errors += n
		}
	})
	deps := map[string]*Dep{}
	for _, k := range order {
		u := byKey[k]
		s.Work.Timeouts += u.Timeouts
		s.Work.Errors += u.Errors
		s.Work.ClientErrors += u.ClientErrors
		if slices.Contains(workLayers, u.Layer) {
			s.Work.Calls += u.Calls
			s.Work.Hist = addHist(s.Work.Hist, u.Hist)
		} else if name, ok := depOf[u.Layer]; ok && !strings.HasSuffix(u.Name, metrics.BlockSuffix) {
			// A blocking read waits for work: it is not time spent on Redis.
			d := deps[name]
			if d == nil {
				d = &Dep{Name: name}
				deps[name] = d
			}
			d.Calls += u.Calls
			d.Timeouts += u.Timeouts
			d.Errors += u.Errors
			d.ClientErrors += u.ClientErrors
			d.Hist = addHist(d.Hist, u.Hist)
			d.TimeMS += timeMS[k]
		}
		u.withQuantiles()
		s.Units = append(s.Units, *u)
	}
	s.Work.withQuantiles()
	for _, name := range depNames {
		if d := deps[name]; d != nil {
			d.TimeMS = round3(d.TimeMS)
			d.withQuantiles()
			s.Deps = append(s.Deps, *d)
		} else {
			s.Deps = append(s.Deps, Dep{Name: name})
		}
	}
	sortUnits(s.Units)
	// A unit's histogram stays in the process: the cluster's per-unit rows
	// take the worst process's quantiles (sum.go), and ten minutes of every
	// unit's buckets would multiply the ring's size.
	for i := range s.Units {
		s.Units[i].Hist = nil
	}
}

// sortUnits orders units busiest first, then by layer and name.
func sortUnits(us []Unit) {
	slices.SortFunc(us, func(a, b Unit) int {
		if a.Calls != b.Calls {
			if a.Calls > b.Calls {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Layer, b.Layer); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// gauges fills the single-valued gauges: backlog and sessions.
func (s *Snapshot) gauges(cur gathering) {
	s.Backlog.Outbox = int64(cur.gauge(famOutbox))
	s.Backlog.Webhook = int64(cur.gauge(famWebhook))
	s.Backlog.SlowBytes = int64(cur.gauge(famQueuedBytes))
	s.Backlog.SlowConns = int64(cur.gauge(famQueuedConns))
	s.Sessions.ByPlatform = map[string]int64{}
	cur.each(famSessions, func(_ string, se *series) {
		n := int64(se.value)
		s.Sessions.ByPlatform[se.labels["platform"]] += n
		s.Sessions.LoggedIn += n
	})
	s.Sessions.Handshaking = int64(cur.gauge(famHandshakes))
	s.Sessions.Total = s.Sessions.LoggedIn + s.Sessions.Handshaking
}

func streams(cur gathering) []Stream {
	out := []Stream{}
	cur.each(famStreamLag, func(key string, se *series) {
		st := Stream{Node: se.labels["node"], Lag: int64(se.value)}
		if p := cur[famStreamPend][key]; p != nil {
			st.Pending = int64(p.value)
		}
		out = append(out, st)
	})
	return out
}

func pools(prev, cur gathering) []Pool {
	out := []Pool{}
	cur.each(famPoolBusy, func(key string, se *series) {
		p := Pool{Name: se.labels["pool"], Busy: int64(se.value), Shed: int64(cur.delta(prev, famPoolShed, key))}
		if x := cur[famPoolQueued][key]; x != nil {
			p.Queued = int64(x.value)
		}
		if x := cur[famPoolWorkers][key]; x != nil {
			p.Workers = int64(x.value)
		}
		if x := cur[famPoolCapacity][key]; x != nil {
			p.Queue = int64(x.value)
		}
		out = append(out, p)
	})
	return out
}

// cacheNames orders Caches; every one is shown, lookups or not.
var cacheNames = []string{metrics.CacheAPIKey, metrics.CacheRevocation, metrics.CacheVersion}

func caches(prev, cur gathering) []Cache {
	out := make([]Cache, 0, len(cacheNames))
	for _, name := range cacheNames {
		c := Cache{
			Name:   name,
			Hits:   int64(cur.delta(prev, famCaches, labelKey(map[string]string{"cache": name, "result": "hit"}))),
			Misses: int64(cur.delta(prev, famCaches, labelKey(map[string]string{"cache": name, "result": "miss"}))),
		}
		c.HitRate = hitRate(c.Hits, c.Misses)
		out = append(out, c)
	}
	return out
}

func hitRate(hits, misses int64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return round3(float64(hits) / float64(hits+misses))
}
