package live

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherim/tether/shared/metrics"
)

func quietMetrics() *metrics.Metrics {
	return metrics.New(metrics.WithLogger(slog.New(slog.DiscardHandler)))
}

func TestBuild_CountsWhatHappenedInTheSecondOnly(t *testing.T) {
	m := quietMetrics()
	m.Observe(metrics.LayerHTTP, "GET /v1/sync", time.Millisecond, nil, time.Second) // before: not in the second
	rec := NewRecorder(m.Gatherer(), Config{Process: "n1", Role: RolePush})
	t0 := time.Unix(1_000_000, 0)
	rec.step(t.Context(), t0)

	for range 97 {
		m.Observe(metrics.LayerPush, "send", 2*time.Millisecond, nil, 100*time.Millisecond)
	}
	for range 2 { // timeouts, and the slowest 2% of the calls
		m.Observe(metrics.LayerPush, "send", 300*time.Millisecond, nil, 100*time.Millisecond)
	}
	m.Observe(metrics.LayerPush, "send", time.Millisecond, errors.New("redis down"), 0)                           // a server error
	m.Observe(metrics.LayerHTTP, "POST /v1/users", time.Millisecond, metrics.ClientError(errors.New("taken")), 0) // the caller's
	m.Observe(metrics.LayerRedis, "get", 4*time.Millisecond, nil, metrics.RedisBudget)
	m.Observe(metrics.LayerRedis, "xreadgroup"+metrics.BlockSuffix, 900*time.Millisecond, nil, 0)
	m.Observe(metrics.LayerSQL, "message.create", 3*time.Millisecond, nil, 0)
	m.CacheLookup(metrics.CacheAPIKey, true)
	m.CacheLookup(metrics.CacheAPIKey, true)
	m.CacheLookup(metrics.CacheAPIKey, true)
	m.CacheLookup(metrics.CacheAPIKey, false)
	rec.step(t.Context(), t0.Add(time.Second))

	ss := rec.Last(10)
	if len(ss) != 1 {
		t.Fatalf("%d snapshots after two steps, want 1", len(ss))
	}
	s := ss[0]
	if s.Work.Calls != 101 || s.Work.Timeouts != 2 || s.Work.Errors != 1 || s.Work.ClientErrors != 1 {
		t.Errorf("work = %+v, want 101 calls (push and http, not redis or sql), 2 timeouts, 1 error, 1 client error", s.Work)
	}
	if s.Work.P50MS <= 1 || s.Work.P50MS > 2.5 {
		t.Errorf("p50 = %v ms, want within the 1-2.5 ms bucket", s.Work.P50MS)
	}
	if s.Work.P99MS <= 250 || s.Work.P99MS > 500 {
		t.Errorf("p99 = %v ms, want within the 250-500 ms bucket of the two slowest calls", s.Work.P99MS)
	}
	if s.Units[0].Layer != metrics.LayerPush || s.Units[0].Name != "send" || s.Units[0].Calls != 100 {
		t.Errorf("busiest unit = %+v, want push send with 100 calls", s.Units[0])
	}
	for _, u := range s.Units {
		if u.Name == "GET /v1/sync" {
			t.Errorf("a call from before the second is in it: %+v", u)
		}
	}
	redis, sql := s.Deps[1], s.Deps[0]
	if redis.Name != "redis" || redis.Calls != 1 || redis.TimeMS != 4 {
		t.Errorf("redis = %+v, want 1 call of 4 ms (the blocking read is waiting, not Redis time)", redis)
	}
	if sql.Name != "sql" || sql.Calls != 1 || sql.TimeMS != 3 {
		t.Errorf("sql = %+v, want 1 call of 3 ms", sql)
	}
	if c := s.Caches[0]; c.Name != metrics.CacheAPIKey || c.Hits != 3 || c.Misses != 1 || c.HitRate != .75 {
		t.Errorf("api key cache = %+v, want 3 hits, 1 miss, rate 0.75", c)
	}
	if s.Runtime.Goroutines == 0 || s.Runtime.HeapBytes == 0 {
		t.Errorf("runtime = %+v, want goroutines and heap", s.Runtime)
	}
	if s.Seconds != 1 || !s.At.Equal(t0.Add(time.Second)) {
		t.Errorf("interval = %v s ending %v", s.Seconds, s.At)
	}
}

func TestRing_HoldsTenMinutesAndNoMore(t *testing.T) {
	rec := NewRecorder(quietMetrics().Gatherer(), Config{Process: "n1", Role: RoleAPI})
	t0 := time.Unix(1_000_000, 0)
	for i := range RingSize + 50 {
		rec.step(t.Context(), t0.Add(time.Duration(i)*time.Second))
	}
	all := rec.Last(RingSize + 100)
	if len(all) != RingSize {
		t.Fatalf("ring holds %d seconds, want %d", len(all), RingSize)
	}
	if RingSize < 600 {
		t.Fatalf("RingSize %d is under ten minutes", RingSize)
	}
	// Oldest first, the newest is the last step, one second apart.
	if want := t0.Add(time.Duration(RingSize+49) * time.Second); !all[len(all)-1].At.Equal(want) {
		t.Errorf("newest = %v, want %v", all[len(all)-1].At, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.Sub(all[i-1].At) != time.Second {
			t.Fatalf("snapshots %d and %d are %v apart", i-1, i, all[i].At.Sub(all[i-1].At))
		}
	}
	if got := rec.Since(all[len(all)-3].At); len(got) != 2 {
		t.Errorf("Since the third newest = %d snapshots, want 2", len(got))
	}
}

func TestSum_AddsCountsAndMergesHistograms(t *testing.T) {
	a := Snapshot{Process: "a", Work: Summary{Calls: 99, Hist: []Bucket{{LeMS: 1, N: 99}}},
		Backlog:  Backlog{Outbox: 7, SlowBytes: 10, Streams: []Stream{{Node: "a", Lag: 3}}},
		Sessions: Sessions{Total: 2, LoggedIn: 2, ByPlatform: map[string]int64{"ios": 2}},
		Caches:   []Cache{{Name: metrics.CacheVersion, Hits: 1, Misses: 1}}}
	b := Snapshot{Process: "b", Work: Summary{Calls: 1, Timeouts: 1, Hist: []Bucket{{LeMS: 1000, N: 1}}},
		Backlog:  Backlog{Outbox: 7, SlowBytes: 5, Streams: []Stream{{Node: "b", Pending: 4}}},
		Sessions: Sessions{Total: 3, Handshaking: 1, LoggedIn: 2, ByPlatform: map[string]int64{"ios": 1, "web": 1}},
		Caches:   []Cache{{Name: metrics.CacheVersion, Hits: 2}}}
	s := Sum([]Snapshot{a, b})
	if s.Work.Calls != 100 || s.Work.Timeouts != 1 {
		t.Errorf("work = %+v", s.Work)
	}
	// 100 observations, 99 at <= 1 ms: the p99 is in the 1 ms bucket, the
	// p50 too; a mean of the processes' p99s (1 and 1000) would say ~500.
	if s.Work.P99MS > 1 || s.Work.P50MS > 1 {
		t.Errorf("cluster p50/p99 = %v/%v ms, want <= 1 from the merged buckets", s.Work.P50MS, s.Work.P99MS)
	}
	if s.Backlog.Outbox != 7 {
		t.Errorf("outbox = %d: every API reads the same table, the sum must not add it up", s.Backlog.Outbox)
	}
	if s.Backlog.SlowBytes != 15 || len(s.Backlog.Streams) != 2 {
		t.Errorf("backlog = %+v", s.Backlog)
	}
	if s.Sessions.Total != 5 || s.Sessions.Handshaking != 1 || s.Sessions.ByPlatform["ios"] != 3 || s.Sessions.ByPlatform["web"] != 1 {
		t.Errorf("sessions = %+v", s.Sessions)
	}
	if c := s.Caches[0]; c.Hits != 3 || c.Misses != 1 || c.HitRate != .75 {
		t.Errorf("version cache = %+v", c)
	}
}

func TestQuantile_InterpolatesInsideTheBucket(t *testing.T) {
	// 10 observations in (0.5, 1] ms: the median is halfway through it.
	if got := quantile([]Bucket{{LeMS: 1, N: 10}}, .5); got != .75 {
		t.Errorf("median = %v, want 0.75", got)
	}
	if got := quantile(nil, .99); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
	if got := quantile([]Bucket{{LeMS: -1, N: 3}}, .5); got != 2500 {
		t.Errorf("quantile in the overflow bucket = %v, want the highest bound (2500 ms)", got)
	}
}
