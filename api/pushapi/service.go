// Package pushapi is the push API for third-party services: server-to-server
// API keys (checked through a short in-process cache), per-key rate limits in
// Redis, and pushes to users, transient or persisted, and broadcasts.
//
// A transient push touches no database: its idempotency record and delivery
// status live in Redis with a TTL (shared/pushstatus), and it costs one
// Redis round trip however many users and nodes it reaches: the send script
// (send_script.go) spends the key's rate, claims the idempotency record,
// finds the live sessions, writes the status and appends the job to each
// node's stream, and concurrent requests share that round trip
// (internal/coalesce). A batch costs the same one. The service sees Redis
// through two small interfaces, Backend and Limiter (backend.go);
// RedisBackend implements both.
package pushapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
)

// Defaults of Config.
const (
	// DefaultKeyCacheTTL is how long a key lookup is trusted: a revoked key
	// keeps working on other API replicas for up to this long (at once on the
	// replica that revoked it).
	DefaultKeyCacheTTL = 5 * time.Second
	// maxCachedKeys bounds the cache; a client cycling through made-up keys
	// only empties it.
	maxCachedKeys = 10000
	// AdminKeyID is the key id of the bootstrap admin key (Config.AdminKey).
	AdminKeyID = "admin"
)

// Config configures the service.
type Config struct {
	// AdminKey is an admin-scope secret from the operator (TETHER_ADMIN_KEY),
	// to create the first keys; empty: none.
	AdminKey string
	// DefaultRateLimit is the pushes per second of keys created without a
	// rate_limit; 0: unlimited.
	DefaultRateLimit int
	KeyCacheTTL      time.Duration // 0: DefaultKeyCacheTTL
}

// Persister appends a persisted push to users' timelines: one entry of kind
// "push" each, delivered like messages, and collapses the entries named in
// Collapse. It returns the new entry's version for each user that got one.
type Persister interface {
	PersistPush(ctx context.Context, p PersistedPush) (map[int64]uint64, error)
}

// PersistedPush is what a Persister stores.
type PersistedPush struct {
	PushID      string
	UserIDs     []int64
	Platforms   []string
	Payload     json.RawMessage
	CollapseKey string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// Collapse: user -> version of that user's newest earlier push entry of
	// CollapseKey, to replace by a collapsed event.
	Collapse map[int64]uint64
}

// Service implements tether.APIKeyService (with the admin key and the cache in
// front of the store) and tether.PushService.
type Service struct {
	cfg     Config
	keys    tether.APIKeyService
	persist Persister // nil: persisted pushes are unavailable
	backend Backend
	lim     Limiter
	admin   []byte // SHA-256 of cfg.AdminKey, nil without one
	log     *slog.Logger
	m       *metrics.Metrics // nil: nothing counted

	mu    sync.Mutex
	cache map[string]cachedKey // by hex SHA-256 of the secret

	limiterDown prometheus.Counter
}

type cachedKey struct {
	caller *tether.KeyCaller // nil: no such live key
	at     time.Time
}

var (
	_ tether.APIKeyService = (*Service)(nil)
	_ tether.PushService   = (*Service)(nil)
)

// Limiter spends n of an API key's rate (GCRA, shared by every API
// replica; RedisBackend implements it): allowed, or the wait before a retry.
type Limiter interface {
	AllowN(ctx context.Context, keyID string, l Limit, n int) (allowed bool, retryAfter time.Duration, err error)
}

// New returns the service, keeping its pushes in backend and spending rates
// with lim. persist may be nil (persisted pushes then answer unavailable);
// m and log may be nil.
func New(cfg Config, keys tether.APIKeyService, persist Persister, backend Backend, lim Limiter, m *metrics.Metrics, log *slog.Logger) *Service {
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg: cfg, keys: keys, persist: persist, backend: backend, lim: lim, log: log, m: m, cache: map[string]cachedKey{},
		limiterDown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_push_api_rate_limiter_unavailable_total",
			Help: "Push API requests let through without a rate-limit check because Redis did not answer (fail open).",
		}),
	}
	if cfg.AdminKey != "" {
		h := sha256.Sum256([]byte(cfg.AdminKey))
		s.admin = h[:]
	}
	if m != nil {
		m.Register(s.limiterDown)
	}
	return s
}
