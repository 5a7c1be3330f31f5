// Caches in front of a dependency (the API-key cache, the revocation
// marks, the newest-version keys) count their lookups here, so the per-second
// table and Prometheus show their hit rates from one counter.

package metrics

import "github.com/prometheus/client_golang/prometheus"

// Caches: the cache label of tether_cache_lookups_total.
const (
	CacheAPIKey     = "api_key"    // api/pushapi: API keys by secret, in process
	CacheRevocation = "revocation" // api/rest: login sessions known to be revoked, in process
	CacheVersion    = "version"    // push: a user's newest timeline version held in Redis at handshake
)

func newCacheCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_cache_lookups_total",
		Help: "Cache lookups, by cache and result (hit: answered by the cache; miss: it had to ask further or could not answer).",
	}, []string{"cache", "result"})
}

// CacheLookup counts one lookup of a cache (one of the Cache constants).
// A nil Metrics counts nothing.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.caches.WithLabelValues(cache, result).Inc()
}
