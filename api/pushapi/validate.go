package pushapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/tetherim/tether"
)

// normalise checks a push request by the domain's rules
// (tether.PushRequest.Normalize) and, for a push with an idempotency key,
// hashes its canonical form: two requests meaning the same push hash the
// same, which is what an idempotency key compares. Pushes without a key
// skip the encoding and the hash.
func normalise(r tether.PushRequest) (*push, error) {
	n, err := r.Normalize()
	if err != nil {
		return nil, err
	}
	p := &push{req: n, ttl: time.Duration(n.TTLSeconds) * time.Second}
	if n.IdempotencyKey == "" {
		return p, nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	p.hash = hex.EncodeToString(h[:16])
	return p, nil
}
