package pushapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/tetherim/tether"
)

// normalise checks a push request by the domain's rules
// (tether.PushRequest.Normalize) and hashes its canonical form: two
// requests meaning the same push hash the same, which is what an
// idempotency key compares.
func normalise(r tether.PushRequest) (*push, error) {
	n, err := r.Normalize()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	return &push{req: n, ttl: time.Duration(n.TTLSeconds) * time.Second, hash: hex.EncodeToString(h[:16])}, nil
}
