// Package job is the schema of push jobs: what the API's outbox relay writes
// to a push node's Redis stream, and what the node reads back.
//
// A stream entry has one field, "j", holding the JSON encoding of a Job. One
// Job may target several users on the same node with one shared body, so the
// body is encoded once however many sessions it reaches.
package job

import (
	"encoding/json"
	"errors"
)

// Field is the stream entry field that holds the encoded job.
const Field = "j"

// Kind says what a job asks the node to do.
type Kind string

const (
	// KindMessage delivers a persisted timeline entry: each target gets a
	// Message frame with its own version and the shared body.
	KindMessage Kind = "message"
)

// Target is one user (optionally one device of that user) a job is for.
type Target struct {
	UserID   int64  `json:"u"`
	Version  uint64 `json:"v,omitempty"` // the entry's version in this user's timeline
	DeviceID string `json:"d,omitempty"` // empty: every device of the user on this node
}

// Job is one unit of work for a push node.
type Job struct {
	ID         string          `json:"id"`   // outbox id, for logs and tracing
	Kind       Kind            `json:"k"`    //
	Targets    []Target        `json:"t"`    //
	Body       json.RawMessage `json:"b"`    // the entry JSON sent to clients, without its version
	EnqueuedMS int64           `json:"e,omitempty"` // unix ms when the API committed it, for latency metrics
}

// Encode returns the stream field value for j.
func Encode(j Job) ([]byte, error) { return json.Marshal(j) }

// Decode parses a stream field value. It rejects jobs a node cannot act on,
// so a poisoned entry is acked and counted, not retried forever.
func Decode(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, err
	}
	switch {
	case j.Kind != KindMessage:
		return j, errors.New("job: unknown kind " + string(j.Kind))
	case len(j.Targets) == 0:
		return j, errors.New("job: no targets")
	case len(j.Body) == 0:
		return j, errors.New("job: empty body")
	}
	return j, nil
}
