package pushapi

import (
	"context"
	"time"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// Backend keeps the push API's state beside the routes: idempotency
// records, push statuses and collapse indexes, and it reaches the routing
// registry and the job streams. Each method is one round trip. RedisBackend
// (backend_redis.go) is the implementation.
type Backend interface {
	// ClaimAndLookup claims each idempotency record that is not taken yet,
	// reads back who holds each (Claim.Holder), and looks up the live
	// sessions of uids.
	ClaimAndLookup(ctx context.Context, claims []*Claim, uids []int64) (map[int64][]route.Session, error)
	// Claim is ClaimAndLookup without the lookup.
	Claim(ctx context.Context, claims []*Claim) error
	// Forget removes the records of claims whose pushes could not be sent,
	// so a retry sends them; best effort.
	Forget(ctx context.Context, claims []*Claim)
	// Send writes the statuses, then appends the jobs to their nodes'
	// streams: a node that reads a job finds its status to count into.
	Send(ctx context.Context, statuses []NewStatus, jobs []stream.NodeJob) error
	// Broadcast writes the status, then appends the broadcast job.
	Broadcast(ctx context.Context, st NewStatus, j job.Job) error
	// Status reads a push's status; ok is false if it has none.
	Status(ctx context.Context, id string) (st pushstatus.Status, ok bool, err error)
	// Targeted reads the targeted counts of pushes (0 if a push has no status).
	Targeted(ctx context.Context, ids []string) map[string]int64
	// Collapsed reads, per user, the version of the newest push entry of a
	// collapse key.
	Collapsed(ctx context.Context, c Collapse, users []int64) (map[int64]uint64, error)
	// Persisted writes a persisted push's status and records its entries'
	// versions in the collapse index of c (if c names a collapse key).
	Persisted(ctx context.Context, st NewStatus, c Collapse, versions map[int64]uint64) error
}

// Claim is an idempotency record to claim: Key is its idempotency key
// (hashed) of API key KeyID, Value what it should hold ("push id|request
// hash"). Holder is what it holds after the claim: Value if it was free.
type Claim struct {
	KeyID, Key, Value string
	Holder            string
}

// NewStatus is the status of a push being sent, kept for TTL.
type NewStatus struct {
	ID  string
	TTL time.Duration
	pushstatus.Status
}

// Collapse names the collapse index of an API key's collapse key (hashed);
// an empty Key names none.
type Collapse struct{ KeyID, Key string }
