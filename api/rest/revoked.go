package rest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherim/tether/shared/metrics"
)

// RevocationChecker reports whether a login session was revoked.
type RevocationChecker interface {
	IsRevoked(ctx context.Context, sessionID string) (bool, error)
}

const (
	// revokedCacheSize bounds the sessions remembered as revoked. A
	// revocation never ends, so a remembered one needs no lookup again.
	revokedCacheSize = 4096
	// revocationBudget bounds the lookup: Redis is a weak dependency of the
	// API, and a slow Redis must not stall every request.
	revocationBudget = 200 * time.Millisecond
)

// revocationCache checks sessions against a RevocationChecker and remembers
// the revoked ones. When the checker fails (Redis down), tokens are
// accepted: they still expire within the access-token lifetime, and logging
// everyone out during an outage would turn it into a full one.
//
// Only revocations are remembered (a session that is not revoked now may be
// at the next request), so its hit rate is the share of lookups answered
// without Redis: the requests of revoked tokens.
type revocationCache struct {
	check RevocationChecker
	log   *slog.Logger
	m     *metrics.Metrics

	mu      sync.Mutex
	revoked map[string]struct{}
	warned  time.Time
}

func newRevocationCache(check RevocationChecker, m *metrics.Metrics, log *slog.Logger) *revocationCache {
	return &revocationCache{check: check, m: m, log: log, revoked: make(map[string]struct{})}
}

func (r *revocationCache) isRevoked(ctx context.Context, sessionID string) bool {
	if r == nil || r.check == nil || sessionID == "" {
		return false
	}
	r.mu.Lock()
	_, known := r.revoked[sessionID]
	r.mu.Unlock()
	r.m.CacheLookup(metrics.CacheRevocation, known)
	if known {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, revocationBudget)
	defer cancel()
	revoked, err := r.check.IsRevoked(ctx, sessionID)
	if err != nil {
		r.mu.Lock()
		if time.Since(r.warned) > time.Minute {
			r.warned = time.Now()
			r.log.Warn("cannot check access-token revocation; accepting tokens until they expire", "err", err)
		}
		r.mu.Unlock()
		return false
	}
	if revoked {
		r.mu.Lock()
		if len(r.revoked) >= revokedCacheSize {
			clear(r.revoked) // crude but bounded: the marks stay in Redis
		}
		r.revoked[sessionID] = struct{}{}
		r.mu.Unlock()
	}
	return revoked
}
