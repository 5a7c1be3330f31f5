// Package dephealth tracks the health of a process's dependencies (the
// database, Redis) one by one, so that readiness can depend on the few a
// process cannot work without while the others are only reported: a weak
// dependency that is down shows in /healthz and in the
// tether_dependency_up gauge, and takes nobody out of service.
//
// A Dep learns its state from observations: a probe (a PING, a schema check)
// or, better, the process's real use of the dependency (a heartbeat write, a
// stream read), which also catches a dependency that answers PING but
// refuses the work (a Redis Cluster node answering MOVED, a replica
// answering READONLY, a wrong password).
package dephealth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Set is the dependencies of one process, in the order they were added.
type Set struct {
	mu   sync.Mutex
	deps []*Dep
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{} }

// Add adds a dependency named name (e.g. "redis"). refused, which may be
// nil, tells which errors mean the dependency answered but refused the work
// (Usable turns false on them); other errors count as an outage.
func (s *Set) Add(name string, refused func(error) bool) *Dep {
	d := &Dep{name: name, refused: refused}
	s.mu.Lock()
	s.deps = append(s.deps, d)
	s.mu.Unlock()
	return d
}

// Get returns the dependency named name, nil if there is none.
func (s *Set) Get(name string) *Dep {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deps {
		if d.name == name {
			return d
		}
	}
	return nil
}

// Snapshot returns the state of every dependency.
func (s *Set) Snapshot() []Status {
	s.mu.Lock()
	deps := append([]*Dep(nil), s.deps...)
	s.mu.Unlock()
	out := make([]Status, len(deps))
	for i, d := range deps {
		out[i] = d.Status()
	}
	return out
}

// Status is a dependency's last known state.
type Status struct {
	Name      string        `json:"-"`
	Up        bool          `json:"up"`                     // the last observation succeeded
	Latency   time.Duration `json:"-"`                      // of the last observation
	LatencyMS float64       `json:"latency_ms"`             // Latency in milliseconds, for JSON
	CheckedAt time.Time     `json:"checked_at,omitzero"`    // when it was last observed; zero: never
	LastOK    time.Time     `json:"last_ok,omitzero"`       // the last success; zero: never
	LastError string        `json:"last_error,omitempty"`   // the last failure, even after a recovery
	ErrorAt   time.Time     `json:"last_error_at,omitzero"` // when it happened
}

// Dep is one dependency's health, safe for concurrent use.
type Dep struct {
	name    string
	refused func(error) bool

	mu       sync.Mutex
	st       Status
	refusals map[string]error // per use: the refusal since that use last succeeded
}

// Name is the dependency's name.
func (d *Dep) Name() string { return d.name }

// Observe records one probe of the dependency that took latency and ended
// with err (nil: it worked).
func (d *Dep) Observe(latency time.Duration, err error) { d.ObserveUse("", latency, err) }

// ObserveUse records one use of the dependency, named use (e.g.
// "heartbeat", "stream"), that took latency and ended with err. A refusal
// of one use is cleared only by a success of the same use: a Redis Cluster
// node may hold one key the process needs and answer MOVED for the next.
// A negative latency (a blocking read, whose duration says nothing) keeps
// the last one.
func (d *Dep) ObserveUse(use string, latency time.Duration, err error) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.CheckedAt, d.st.Up = now, err == nil
	if latency >= 0 {
		d.st.Latency = latency
	}
	if err == nil {
		d.st.LastOK = now
		delete(d.refusals, use)
		return
	}
	d.st.LastError, d.st.ErrorAt = err.Error(), now
	if d.refused != nil && d.refused(err) {
		if d.refusals == nil {
			d.refusals = map[string]error{}
		}
		d.refusals[use] = err
	}
}

// Check runs probe, observes its outcome and returns its error.
func (d *Dep) Check(ctx context.Context, probe func(context.Context) error) error {
	start := time.Now()
	err := probe(ctx)
	d.Observe(time.Since(start), err)
	return err
}

// Status returns the dependency's last known state.
func (d *Dep) Status() Status {
	d.mu.Lock()
	st := d.st
	d.mu.Unlock()
	st.Name, st.LatencyMS = d.name, float64(st.Latency.Microseconds())/1000
	return st
}

// ErrNeverUsed is returned by Usable before the first successful use.
var ErrNeverUsed = errors.New("dependency not used successfully yet")

// Usable reports whether the dependency can do the process's work: it has
// succeeded at least once, and no use it refused has succeeded since. An
// outage (no answer) after a success does not make it
// unusable: whether the process may keep serving through one is the
// caller's rule, and Up tells it apart.
func (d *Dep) Usable() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for use, err := range d.refusals {
		if use == "" {
			return err
		}
		return fmt.Errorf("%s: %w", use, err)
	}
	if d.st.LastOK.IsZero() {
		return ErrNeverUsed
	}
	return nil
}
