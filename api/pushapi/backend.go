package pushapi

import (
	"context"
	"time"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
)

// Backend keeps the push API's state beside the routes: idempotency
// records, push statuses and collapse indexes, and it reaches the routing
// registry and the job streams. Each method is one round trip. RedisBackend
// (backend_redis.go) is the implementation.
type Backend interface {
	// Transient sends transient pushes: it spends spend (unless spend.N is
	// 0; allowed is false, with the wait before a retry, when over the
	// rate, and then nothing else happens), then, for each push, claims its
	// idempotency record (Claim.Holder is what the record holds after; a
	// push whose record another holds is not sent), finds the live sessions
	// of its job's target users on its job's platforms (Targeted), writes
	// its status with that count, and appends its job to the streams of the
	// nodes holding them: a node that reads the job finds the status to
	// count into.
	Transient(ctx context.Context, spend Spend, ps []*TransientPush) (allowed bool, retryAfter time.Duration, err error)
	// Claim claims each idempotency record that is not taken yet and reads
	// back who holds each (Claim.Holder).
	Claim(ctx context.Context, claims []*Claim) error
	// Forget gives up the records of claims whose pushes could not be sent,
	// so a retry sends them, unless another push holds them; best effort.
	Forget(ctx context.Context, claims []*Claim)
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

// Spend is what a request spends of its API key's rate: N pushes of Limit.
type Spend struct {
	KeyID string
	Limit Limit
	N     int
}

// TransientPush is one transient push for Backend.Transient: its job names
// the target users (without devices: each node delivers to the users'
// sessions it holds, on the job's platforms), Status is its status but for
// the targeted count, which Transient finds and sets in Targeted.
type TransientPush struct {
	Claim    *Claim // its idempotency record; nil without one
	Job      job.Job
	Status   NewStatus
	Targeted int
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
