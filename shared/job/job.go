// Package job is the schema of push jobs: what the API publishes to a push
// node's stream, and what the node reads back. The streams themselves (keys,
// entries, consumer groups) belong to shared/stream.
//
// One Job may target several users on the same node with one shared body,
// so the body is encoded once however many sessions it reaches.
package job

import (
	"encoding/json"
	"errors"
	"time"
)

// Kind says what a job asks the node to do.
type Kind string

const (
	// KindMessage delivers a persisted timeline entry: each target gets a
	// Message frame with its own version and the shared body.
	KindMessage Kind = "message"
	// KindPush delivers a transient push (wire Push frame with PushID and
	// Body) to the targets' live sessions, optionally only on Platforms.
	KindPush Kind = "push"
	// KindBroadcast is KindPush to every live session of every node
	// (optionally only on Platforms). It travels on the broadcast stream,
	// which every node reads with a consumer group of its own; Targets is empty.
	KindBroadcast Kind = "broadcast"
	// KindSignal relays an ephemeral signal (typing, ...) From a user to the
	// targets' live sessions; Body is the signal data, Signal its kind.
	KindSignal Kind = "signal"
	// KindKick ends the targets' sessions with a Kick frame (Code, Reason):
	// a target with DeviceID names one device, else Platforms narrows the
	// sessions; the session whose connection id is KeepConn is spared.
	KindKick Kind = "kick"
	// KindDrain asks the node whose stream carries it to drain (move its
	// clients to other nodes) and stop, on an operator's request; Reason
	// says why. No targets, no body; it must expire (ExpiresMS).
	KindDrain Kind = "drain"
	// KindHotRestart asks the node to hot-restart: a new process of it
	// takes its connections over. As KindDrain otherwise.
	KindHotRestart Kind = "hot_restart"
)

// ControlTTL is how long a KindDrain or KindHotRestart job stays valid: an
// operator's request that no node read within it is dropped, never acted on
// later by surprise.
const ControlTTL = time.Minute

// Target is one user (optionally one device of that user) a job is for.
type Target struct {
	UserID   int64  `json:"u"`
	Version  uint64 `json:"v,omitempty"` // the entry's version in this user's timeline
	DeviceID string `json:"d,omitempty"` // empty: every device of the user on this node
}

// Job is one unit of work for a push node.
type Job struct {
	ID         string          `json:"id"`          // outbox id, for logs and tracing
	Kind       Kind            `json:"k"`           //
	Targets    []Target        `json:"t"`           //
	Body       json.RawMessage `json:"b,omitempty"` // the JSON sent to clients (a message entry without its version, a push body, signal data)
	EnqueuedMS int64           `json:"e,omitempty"` // unix ms when the job was created, for latency metrics

	PushID    string   `json:"pid,omitempty"` // KindPush, KindBroadcast: the push's id
	Platforms []string `json:"pl,omitempty"`  // KindPush, KindBroadcast, KindKick: only sessions on these platforms (empty: all)
	From      int64    `json:"f,omitempty"`   // KindSignal: the sending user
	Signal    string   `json:"s,omitempty"`   // KindSignal: the signal's kind, e.g. "typing"
	Code      uint16   `json:"c,omitempty"`   // KindKick: the wire code of the Kick frame
	Reason    string   `json:"r,omitempty"`   // KindKick: the text of the Kick frame
	KeepConn  string   `json:"kc,omitempty"`  // KindKick: the connection id that is not kicked
	ExpiresMS int64    `json:"x,omitempty"`   // KindPush, KindBroadcast, KindSignal: unix ms after which the job is dropped undelivered (0: no expiry)
}

// Encode returns the JSON encoding of j.
func Encode(j Job) ([]byte, error) { return json.Marshal(j) }

// Decode parses an encoded job. It rejects jobs a node cannot act on,
// so a poisoned entry is acked and counted, not retried forever.
func Decode(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, err
	}
	needTargets, needBody := true, true
	switch j.Kind {
	case KindMessage, KindPush:
	case KindBroadcast:
		needTargets = false
	case KindSignal:
		needBody = false
		if j.From <= 0 || j.Signal == "" {
			return j, errors.New("job: signal without sender or kind")
		}
	case KindKick:
		needBody = false
	case KindDrain, KindHotRestart:
		needTargets, needBody = false, false
		if j.ExpiresMS <= 0 {
			return j, errors.New("job: control job without an expiry")
		}
	default:
		return j, errors.New("job: unknown kind " + string(j.Kind))
	}
	switch {
	case needTargets && len(j.Targets) == 0:
		return j, errors.New("job: no targets")
	case needBody && len(j.Body) == 0:
		return j, errors.New("job: empty body")
	}
	return j, nil
}

// Expired reports whether j has an expiry and it is before nowMS (unix ms).
// Transient jobs past their expiry are dropped: a late push or signal is
// worse than none.
func (j Job) Expired(nowMS int64) bool { return j.ExpiresMS > 0 && nowMS > j.ExpiresMS }
