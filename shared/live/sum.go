// The cluster's row is the sum of its processes' rows. Counts add up, and
// so do latency histograms (hist.go), so the cluster's cmdtime is a real
// p50/p99. Two things do not add: the outbox and webhook backlogs are
// tables every API replica reads alike (the sum takes their largest
// reading), and a unit's quantiles, whose buckets stay in each process (the
// sum shows the worst process's).

package live

import (
	"slices"
	"strings"
	"time"
)

// ClusterView is the newest second of every process and their sum.
type ClusterView struct {
	At        time.Time  `json:"at"`        // the newest process's second
	Sum       Snapshot   `json:"sum"`       // Process "cluster", Role RoleCluster
	Processes []Snapshot `json:"processes"` // ordered by process id
}

// NewClusterView sums ps.
func NewClusterView(ps []Snapshot) ClusterView {
	v := ClusterView{Processes: ps, Sum: Sum(ps)}
	if v.Processes == nil {
		v.Processes = []Snapshot{}
	}
	v.At = v.Sum.At
	return v
}

// Sum adds snapshots of different processes into one, Process "cluster".
func Sum(ps []Snapshot) Snapshot {
	out := Snapshot{Process: RoleCluster, Role: RoleCluster, Units: []Unit{}, Deps: []Dep{},
		Backlog: Backlog{Streams: []Stream{}}, Pools: []Pool{}, Caches: []Cache{}, Sessions: Sessions{ByPlatform: map[string]int64{}}}
	units := map[string]*Unit{}
	deps := map[string]*Dep{}
	pools := map[string]*Pool{}
	streams := map[string]*Stream{}
	caches := map[string]*Cache{}
	for _, p := range ps {
		if p.At.After(out.At) {
			out.At = p.At
		}
		out.Seconds = max(out.Seconds, p.Seconds)
		out.Work.add(p.Work)
		for _, u := range p.Units {
			k := u.Layer + "\x00" + u.Name
			if x := units[k]; x != nil {
				x.add(u.Summary)
				x.P50MS, x.P99MS = max(x.P50MS, u.P50MS), max(x.P99MS, u.P99MS)
			} else {
				c := u
				units[k] = &c
			}
		}
		for _, d := range p.Deps {
			if x := deps[d.Name]; x != nil {
				x.add(d.Summary)
				x.TimeMS = round3(x.TimeMS + d.TimeMS)
			} else {
				c := d
				c.Hist = slices.Clone(d.Hist)
				deps[d.Name] = &c
			}
		}
		out.Backlog.Outbox = max(out.Backlog.Outbox, p.Backlog.Outbox)
		out.Backlog.Webhook = max(out.Backlog.Webhook, p.Backlog.Webhook)
		out.Backlog.SlowBytes += p.Backlog.SlowBytes
		out.Backlog.SlowConns += p.Backlog.SlowConns
		for _, s := range p.Backlog.Streams {
			if x := streams[s.Node]; x != nil { // read twice: keep the larger
				x.Lag, x.Pending = max(x.Lag, s.Lag), max(x.Pending, s.Pending)
			} else {
				c := s
				streams[s.Node] = &c
			}
		}
		for _, pl := range p.Pools {
			if x := pools[pl.Name]; x != nil {
				x.Busy += pl.Busy
				x.Queued += pl.Queued
				x.Workers += pl.Workers
				x.Queue += pl.Queue
				x.Shed += pl.Shed
			} else {
				c := pl
				pools[pl.Name] = &c
			}
		}
		out.Sessions.Total += p.Sessions.Total
		out.Sessions.Handshaking += p.Sessions.Handshaking
		out.Sessions.LoggedIn += p.Sessions.LoggedIn
		for pl, n := range p.Sessions.ByPlatform {
			out.Sessions.ByPlatform[pl] += n
		}
		out.Runtime.Goroutines += p.Runtime.Goroutines
		out.Runtime.HeapBytes += p.Runtime.HeapBytes
		out.Runtime.GC += p.Runtime.GC
		out.Runtime.GCPauseMS = round3(out.Runtime.GCPauseMS + p.Runtime.GCPauseMS)
		out.Net.RxBytes += p.Net.RxBytes
		out.Net.TxBytes += p.Net.TxBytes
		for _, c := range p.Caches {
			if x := caches[c.Name]; x != nil {
				x.Hits += c.Hits
				x.Misses += c.Misses
			} else {
				cc := c
				caches[c.Name] = &cc
			}
		}
	}
	out.Work.withQuantiles()
	for _, u := range units {
		out.Units = append(out.Units, *u)
	}
	sortUnits(out.Units)
	for _, name := range depNames {
		if d := deps[name]; d != nil {
			d.withQuantiles()
			out.Deps = append(out.Deps, *d)
		}
	}
	for _, s := range streams {
		out.Backlog.Streams = append(out.Backlog.Streams, *s)
	}
	slices.SortFunc(out.Backlog.Streams, func(a, b Stream) int { return strings.Compare(a.Node, b.Node) })
	for _, p := range pools {
		out.Pools = append(out.Pools, *p)
	}
	slices.SortFunc(out.Pools, func(a, b Pool) int { return strings.Compare(a.Name, b.Name) })
	for _, name := range cacheNames {
		if c := caches[name]; c != nil {
			c.HitRate = hitRate(c.Hits, c.Misses)
			out.Caches = append(out.Caches, *c)
		}
	}
	return out
}

// add adds o's counts and histogram into s (quantiles are left to the caller).
func (s *Summary) add(o Summary) {
	s.Calls += o.Calls
	s.Timeouts += o.Timeouts
	s.Errors += o.Errors
	s.ClientErrors += o.ClientErrors
	s.Hist = addHist(s.Hist, o.Hist)
}
