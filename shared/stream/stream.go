// Package stream owns the job streams between the API and the push nodes:
// where jobs are appended, how they are encoded in an entry, the consumer
// groups, and the one read loop (Reader) every node reader runs.
//
// Two kinds of stream live in Redis, beside the routing registry
// (shared/route):
//
//	{p}stream:{id}   jobs for node id, read by the node with consumer group "push"
//	{p}broadcast     broadcast jobs, read by every node with a consumer group named after the node
//
// An entry has one field, "j", holding the JSON encoding of a job.Job
// (shared/job is the schema). Entries are acked only after they were
// handled, so delivery is at least once; clients drop what they already have.
//
// Publishers and readers see the streams through small interfaces
// (Publisher, Source); Redis implements them (publish_redis.go,
// source_redis.go), and nothing else in the tree calls XADD, XREADGROUP or
// XACK (owner_test.go checks it).
package stream

import (
	"context"
	"errors"
	"time"

	"github.com/tetherim/tether/shared/job"
)

// Field is the entry field that holds the encoded job.
const Field = "j"

// NodeGroup is the consumer group every node uses on its own stream.
const NodeGroup = "push"

// Stream caps. XADD trims approximately (MAXLEN ~), which costs nothing
// extra; trimmed entries are transient pushes whose time has passed, or
// messages that clients recover by sync.
const (
	// DefaultNodeMaxLen caps a node's job stream unless Caps names another.
	DefaultNodeMaxLen = 100000
	// DefaultBroadcastMaxLen caps the broadcast stream unless Caps names
	// another. It also bounds what a restarted node can catch up on.
	DefaultBroadcastMaxLen = 10000
)

// Keys names the streams under a key prefix (e.g. "tether:").
type Keys struct{ Prefix string }

// Node is the job stream of a node.
func (k Keys) Node(id string) string { return k.Prefix + "stream:" + id }

// Broadcast is the stream every node reads, each with its own consumer group.
func (k Keys) Broadcast() string { return k.Prefix + "broadcast" }

// NodeJob is a job bound for one node's stream.
type NodeJob struct {
	Node string
	Job  job.Job
}

// Publisher appends jobs to the streams. A job's EnqueuedMS is set to now
// if it is zero.
type Publisher interface {
	// Publish appends each job to its node's stream, in one round trip.
	Publish(ctx context.Context, jobs []NodeJob) error
	// Broadcast appends a job.KindBroadcast job to the broadcast stream and
	// returns the entry id.
	Broadcast(ctx context.Context, j job.Job) (string, error)
}

// Entry is one entry read from a stream. Err is set, and Job is not usable,
// when the entry holds no valid job (see job.Decode): a poisoned entry is
// handed over like the others, so it is acked with its batch and never
// blocks the entries behind it.
type Entry struct {
	ID  string
	Job job.Job
	Err error
}

// ErrNoGroup is returned by Source.Read when the consumer group is gone
// (Redis restarted without persistence, or the group was swept): the
// reader then calls Source.Recover.
var ErrNoGroup = errors.New("stream: consumer group is gone")

// Source is one consumer group on one stream, as the Reader sees it.
type Source interface {
	// Name names the stream in logs.
	Name() string
	// Join makes sure the group exists and returns the id of the last entry
	// delivered to it ("" if unknown).
	Join(ctx context.Context) (last string, err error)
	// Read returns up to count entries: with pending, the entries delivered
	// to this consumer but not acked, after the id after ("" from the
	// start), without waiting; else new entries, waiting up to block for
	// one. No entries is not an error.
	Read(ctx context.Context, pending bool, after string, count int, block time.Duration) ([]Entry, error)
	// Ack acknowledges handled entries.
	Ack(ctx context.Context, ids []string) error
	// Recover recreates a lost group so that the entries after last (the
	// last new entry read, "" if none) are read again.
	Recover(ctx context.Context, last string) error
}

// decode turns an entry's field value into an Entry.
func decode(id string, raw any) Entry {
	s, ok := raw.(string)
	if !ok {
		return Entry{ID: id, Err: errors.New("stream: entry without a job field")}
	}
	j, err := job.Decode([]byte(s))
	return Entry{ID: id, Job: j, Err: err}
}

func stamp(j job.Job) ([]byte, error) {
	if j.EnqueuedMS == 0 {
		j.EnqueuedMS = time.Now().UnixMilli()
	}
	return job.Encode(j)
}

func isNoGroup(err error) bool { return errors.Is(err, ErrNoGroup) }
