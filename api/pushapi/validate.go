package pushapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/tetherim/tether"
)

// normalise checks a push request against the limits and returns it in a
// canonical form: users and platforms sorted and unique, payload canonical,
// TTL defaulted. Two requests meaning the same push hash the same.
func normalise(r tether.PushRequest) (*push, error) {
	if len(r.UserIDs) == 0 || len(r.UserIDs) > tether.MaxPushTargets {
		return nil, tether.Errorf(tether.EINVALID, "user_ids must hold 1 to %d user ids", tether.MaxPushTargets)
	}
	users := slices.Clone(r.UserIDs)
	slices.Sort(users)
	users = slices.Compact(users)
	if users[0] <= 0 {
		return nil, tether.Errorf(tether.EINVALID, "user_ids must be positive user ids")
	}
	platforms, err := checkPlatforms(r.Platforms)
	if err != nil {
		return nil, err
	}
	payload, err := checkPayload(r.Payload)
	if err != nil {
		return nil, err
	}
	def := tether.DefaultTransientTTL
	if r.Persist {
		def = tether.DefaultPersistedTTL
	}
	ttl, err := checkTTL(r.TTLSeconds, def)
	if err != nil {
		return nil, err
	}
	if !tether.Printable(r.CollapseKey, tether.MaxCollapseKeyLen) {
		return nil, tether.Errorf(tether.EINVALID, "collapse_key must be at most %d printable characters", tether.MaxCollapseKeyLen)
	}
	if !tether.Printable(r.IdempotencyKey, tether.MaxIdempotencyKeyLen) {
		return nil, tether.Errorf(tether.EINVALID, "idempotency_key must be at most %d printable characters", tether.MaxIdempotencyKeyLen)
	}
	n := tether.PushRequest{
		UserIDs: users, Platforms: platforms, Payload: payload, TTLSeconds: int(ttl / time.Second),
		CollapseKey: r.CollapseKey, IdempotencyKey: r.IdempotencyKey, Persist: r.Persist,
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	return &push{req: n, ttl: ttl, hash: hex.EncodeToString(h[:16])}, nil
}

// checkPlatforms returns the platforms sorted and unique; each must be known.
func checkPlatforms(ps []string) ([]string, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	for _, p := range ps {
		if !slices.Contains(tether.Platforms, p) {
			return nil, tether.Errorf(tether.EINVALID, "platforms: %q is not a platform (want one of %v)", cut(p, 16), tether.Platforms)
		}
	}
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkPayload requires a JSON object of at most tether.MaxPushPayload bytes
// in canonical form (tether.CanonicalObject) and returns that form.
func checkPayload(p json.RawMessage) (json.RawMessage, error) {
	return tether.CanonicalObject("payload", p, tether.MaxPushPayload)
}

// checkTTL returns the TTL; 0 means def seconds.
func checkTTL(sec, def int) (time.Duration, error) {
	if sec == 0 {
		sec = def
	}
	if sec < 1 || sec > tether.MaxPushTTL {
		return 0, tether.Errorf(tether.EINVALID, "ttl_seconds must be 1 to %d", tether.MaxPushTTL)
	}
	return time.Duration(sec) * time.Second, nil
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
