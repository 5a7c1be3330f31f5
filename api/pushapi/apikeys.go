package pushapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
)

// API keys: the admin key, a short in-process cache, the store behind it.

// KeyBySecret checks a secret: the admin key, else the cache, else the store.
func (s *Service) KeyBySecret(ctx context.Context, secret string) (*tether.KeyCaller, error) {
	h := sha256.Sum256([]byte(secret))
	if s.admin != nil && subtle.ConstantTimeCompare(h[:], s.admin) == 1 {
		return &tether.KeyCaller{KeyID: AdminKeyID, Scopes: []string{tether.ScopeAdmin}}, nil
	}
	id := hex.EncodeToString(h[:])
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	hit := ok && now.Sub(c.at) < s.cfg.KeyCacheTTL
	s.m.CacheLookup(metrics.CacheAPIKey, hit)
	if hit {
		if c.caller == nil {
			return nil, errBadKey
		}
		return c.caller, nil
	}
	k, err := s.keys.KeyBySecret(ctx, secret)
	if err != nil && tether.ErrorCode(err) != tether.EUNAUTHORIZED {
		s.log.Warn("push api: key lookup failed", "err", err)
		return nil, tether.Errorf(tether.EUNAVAILABLE, "API keys cannot be checked right now; retry later")
	}
	s.mu.Lock()
	if len(s.cache) >= maxCachedKeys {
		clear(s.cache)
	}
	s.cache[id] = cachedKey{caller: k, at: now}
	s.mu.Unlock()
	if err != nil {
		return nil, errBadKey
	}
	return k, nil
}

var errBadKey = tether.Errorf(tether.EUNAUTHORIZED, "the API key is invalid or revoked")

// CreateKey creates a key in the store.
func (s *Service) CreateKey(ctx context.Context, k tether.NewAPIKey) (*tether.CreatedAPIKey, error) {
	return s.keys.CreateKey(ctx, k)
}

// Keys lists keys from the store.
func (s *Service) Keys(ctx context.Context, cursor string, limit int) (*tether.APIKeyPage, error) {
	return s.keys.Keys(ctx, cursor, limit)
}

// RevokeKey revokes a key in the store and drops it from this replica's
// cache at once; other replicas drop it within KeyCacheTTL.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	if id == AdminKeyID {
		return tether.Errorf(tether.EINVALID, "the bootstrap admin key is revoked by removing TETHER_ADMIN_KEY")
	}
	if err := s.keys.RevokeKey(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	for h, c := range s.cache {
		if c.caller != nil && c.caller.KeyID == id {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	return nil
}
