package tether

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Push API limits. They are part of the contract (openapi.yaml).
const (
	MaxPushTargets        = 1000    // user_ids of one push
	MaxPushPayload        = 4 << 10 // bytes of a push's payload JSON object
	MaxPushBatch          = 500     // pushes of one POST /v1/push/batch
	MaxPushTTL            = 2419200 // seconds (28 days)
	DefaultTransientTTL   = 60      // seconds
	DefaultPersistedTTL   = 86400   // seconds
	MaxCollapseKeyLen     = 64
	MaxIdempotencyKeyLen  = 128
	PushIdempotencyWindow = 24 * time.Hour
)

// Push modes of a PushStatus.
const (
	PushTransient = "transient" // live connections only
	PushPersisted = "persisted" // a timeline entry of kind "push" for each target
	PushBroadcast = "broadcast" // every live session (of some platforms)
)

// PushRequest is one push to a list of users.
type PushRequest struct {
	UserIDs        []int64         `json:"user_ids"`
	Platforms      []string        `json:"platforms,omitempty"`
	Payload        json.RawMessage `json:"payload"`
	TTLSeconds     int             `json:"ttl_seconds,omitempty"` // 0: the mode's default
	CollapseKey    string          `json:"collapse_key,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Persist        bool            `json:"persist,omitempty"`
}

// PushResult is the answer to an accepted push.
type PushResult struct {
	PushID   string `json:"push_id"`
	Targeted int    `json:"targeted"` // transient: live sessions routed to; persisted: users given an entry
	// Duplicate is true when the idempotency key named an earlier push: it
	// was not sent again and PushID is the original's.
	Duplicate bool `json:"duplicate"`
}

// BroadcastRequest is a push to every live session, optionally only on some platforms.
type BroadcastRequest struct {
	Platforms  []string        `json:"platforms,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	TTLSeconds int             `json:"ttl_seconds,omitempty"` // 0: DefaultTransientTTL
}

// PushStatus is a push's delivery report. Delivered and Acknowledged are
// reported by push nodes in batches, so they lag by up to a second or so.
type PushStatus struct {
	PushID       string    `json:"push_id"`
	Mode         string    `json:"mode"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	Targeted     int64     `json:"targeted"`
	Delivered    int64     `json:"delivered"`
	Acknowledged int64     `json:"acknowledged"`
}

// PushService sends pushes on behalf of API keys.
type PushService interface {
	// Push sends one push, spending one push of the key's rate limit
	// (ERATELIMITED, as Allow). ECONFLICT when its idempotency key was used
	// within PushIdempotencyWindow for a different push.
	Push(ctx context.Context, by KeyCaller, p PushRequest) (*PushResult, error)
	// PushBatch sends several pushes; each item fails or succeeds on its
	// own, but the batch spends len(ps) of the key's rate limit and is
	// refused whole (ERATELIMITED) when over it.
	PushBatch(ctx context.Context, by KeyCaller, ps []PushRequest) ([]PushBatchItem, error)
	// Broadcast sends a push to every live session (the caller spends the
	// rate with Allow).
	Broadcast(ctx context.Context, by KeyCaller, b BroadcastRequest) (*PushResult, error)
	// Status reports a push created by the same key. ENOTFOUND otherwise,
	// or once the status expired.
	Status(ctx context.Context, by KeyCaller, pushID string) (*PushStatus, error)
	// Allow spends n pushes of the key's rate limit: ERATELIMITED (an *Error
	// with RetryAfter) when over it. Push and PushBatch spend their own.
	Allow(ctx context.Context, by KeyCaller, n int) error
}

// PushBatchItem is the outcome of one push of a batch: a result or an error.
type PushBatchItem struct {
	Result *PushResult
	Err    error
}

// Normalize checks a push against the limits and returns it in canonical
// form: users and platforms sorted and unique, the payload canonical JSON,
// TTLSeconds defaulted by mode (DefaultTransientTTL or DefaultPersistedTTL).
// Two requests meaning the same push normalize to the same value, which is
// what idempotency keys compare.
func (r PushRequest) Normalize() (PushRequest, error) {
	if len(r.UserIDs) == 0 || len(r.UserIDs) > MaxPushTargets {
		return r, Errorf(EINVALID, "user_ids must hold 1 to %d user ids", MaxPushTargets)
	}
	users := slices.Clone(r.UserIDs)
	slices.Sort(users)
	users = slices.Compact(users)
	if users[0] <= 0 {
		return r, Errorf(EINVALID, "user_ids must be positive user ids")
	}
	platforms, err := normalizePlatforms(r.Platforms)
	if err != nil {
		return r, err
	}
	payload, err := CanonicalObject("payload", r.Payload, MaxPushPayload)
	if err != nil {
		return r, err
	}
	def := DefaultTransientTTL
	if r.Persist {
		def = DefaultPersistedTTL
	}
	ttl, err := pushTTL(r.TTLSeconds, def)
	if err != nil {
		return r, err
	}
	if !Printable(r.CollapseKey, MaxCollapseKeyLen) {
		return r, Errorf(EINVALID, "collapse_key must be at most %d printable characters", MaxCollapseKeyLen)
	}
	if !Printable(r.IdempotencyKey, MaxIdempotencyKeyLen) {
		return r, Errorf(EINVALID, "idempotency_key must be at most %d printable characters", MaxIdempotencyKeyLen)
	}
	return PushRequest{
		UserIDs: users, Platforms: platforms, Payload: payload, TTLSeconds: ttl,
		CollapseKey: r.CollapseKey, IdempotencyKey: r.IdempotencyKey, Persist: r.Persist,
	}, nil
}

// Normalize checks a broadcast against the limits and returns it in
// canonical form, like PushRequest.Normalize (TTL default DefaultTransientTTL).
func (b BroadcastRequest) Normalize() (BroadcastRequest, error) {
	platforms, err := normalizePlatforms(b.Platforms)
	if err != nil {
		return b, err
	}
	payload, err := CanonicalObject("payload", b.Payload, MaxPushPayload)
	if err != nil {
		return b, err
	}
	ttl, err := pushTTL(b.TTLSeconds, DefaultTransientTTL)
	if err != nil {
		return b, err
	}
	return BroadcastRequest{Platforms: platforms, Payload: payload, TTLSeconds: ttl}, nil
}

// normalizePlatforms returns the platforms sorted and unique; each must be
// one of Platforms. None means every platform.
func normalizePlatforms(ps []string) ([]string, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	for _, p := range ps {
		if !slices.Contains(Platforms, p) {
			if len(p) > 16 {
				p = p[:16]
			}
			return nil, Errorf(EINVALID, "platforms: %q is not a platform (want one of %v)", p, Platforms)
		}
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// pushTTL returns a push's time to live in seconds; 0 means def.
func pushTTL(sec, def int) (int, error) {
	if sec == 0 {
		sec = def
	}
	if sec < 1 || sec > MaxPushTTL {
		return 0, Errorf(EINVALID, "ttl_seconds must be 1 to %d", MaxPushTTL)
	}
	return sec, nil
}
