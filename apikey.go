package tether

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// API key limits. They are part of the contract (openapi.yaml).
const (
	MaxAPIKeyNameLen   = 64
	MaxAPIKeyRateLimit = 1_000_000 // pushes per second
)

// API key scopes. A key holds one or more.
const (
	ScopePush      = "push"      // POST /v1/push, /v1/push/batch; GET /v1/push/{id}
	ScopeBroadcast = "broadcast" // POST /v1/push/broadcast; GET /v1/push/{id}
	ScopeAdmin     = "admin"     // /v1/admin/api-keys
)

// Scopes lists the scopes a key may hold.
var Scopes = []string{ScopePush, ScopeBroadcast, ScopeAdmin}

// APIKey is a server-to-server key as listed; its secret is never shown again.
type APIKey struct {
	ID        string     `json:"id"` // public handle, "k_..."
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	RateLimit int        `json:"rate_limit"` // pushes per second; 0: the server default
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// NewAPIKey is what an admin submits to create a key.
type NewAPIKey struct {
	Name      string
	Scopes    []string
	RateLimit int // 0: the server default
}

// Validate checks a key to create: a name, known scopes, a rate limit in range.
func (k NewAPIKey) Validate() error {
	switch {
	case strings.TrimSpace(k.Name) == "":
		return Errorf(EINVALID, "name is required")
	case utf8.RuneCountInString(k.Name) > MaxAPIKeyNameLen || !utf8.ValidString(k.Name):
		return Errorf(EINVALID, "name must be at most %d characters of UTF-8", MaxAPIKeyNameLen)
	case len(k.Scopes) == 0:
		return Errorf(EINVALID, "scopes must name at least one of %s", strings.Join(Scopes, ", "))
	case k.RateLimit < 0 || k.RateLimit > MaxAPIKeyRateLimit:
		return Errorf(EINVALID, "rate_limit must be 0 (server default) to %d pushes per second", MaxAPIKeyRateLimit)
	}
	for _, s := range k.Scopes {
		if !slices.Contains(Scopes, s) {
			return Errorf(EINVALID, "scopes: unknown scope (want %s)", strings.Join(Scopes, ", "))
		}
	}
	return nil
}

// CreatedAPIKey is a new key with its secret, returned once.
type CreatedAPIKey struct {
	APIKey
	Secret string `json:"secret"`
}

// APIKeyPage is a page of keys, oldest first.
type APIKeyPage struct {
	Keys       []APIKey `json:"keys"`
	NextCursor string   `json:"next_cursor,omitempty"` // empty when there is no more
}

// KeyCaller is the authenticated principal of a push API request.
type KeyCaller struct {
	KeyID     string // "admin" for the bootstrap TETHER_ADMIN_KEY
	Scopes    []string
	RateLimit int // pushes per second; 0: the server default
}

// Has reports whether the key holds scope.
func (k KeyCaller) Has(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// APIKeyService creates, lists, revokes and checks API keys.
type APIKeyService interface {
	// CreateKey stores a new key (only its hash) and returns it with its secret.
	CreateKey(ctx context.Context, k NewAPIKey) (*CreatedAPIKey, error)
	// Keys lists keys, revoked ones included, oldest first.
	Keys(ctx context.Context, cursor string, limit int) (*APIKeyPage, error)
	// RevokeKey revokes a key; revoking a revoked key is no error. ENOTFOUND for an unknown id.
	RevokeKey(ctx context.Context, id string) error
	// KeyBySecret returns the live key whose secret this is. EUNAUTHORIZED if
	// there is none or it is revoked.
	KeyBySecret(ctx context.Context, secret string) (*KeyCaller, error)
}
