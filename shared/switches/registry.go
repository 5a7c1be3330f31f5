package switches

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds a process's current switches. Reads load one atomic
// pointer to an immutable view: no lock, no allocation, no network.
// Install replaces the view when a newer snapshot arrives.
type Registry struct {
	defs  []Def
	index map[string]int
	cur   atomic.Pointer[view]

	mu       sync.Mutex // serialises Install and guards watchers
	watchers []func(*Snapshot)
}

// view is what a read sees: one entry per catalogue switch, in catalogue order.
type view struct {
	snap    *Snapshot
	entries map[string]*entry
}

type entry struct {
	def   Def
	value Value
	rules *compiled
	state State // zero when the switch was never set
}

// NewRegistry returns a registry of the switches defs (usually Catalogue),
// each at its default, at version 0.
func NewRegistry(defs []Def) *Registry {
	r := &Registry{defs: defs, index: make(map[string]int, len(defs))}
	for i, d := range defs {
		if _, dup := r.index[d.Name]; dup {
			panic(fmt.Sprintf("switches: %q is defined twice", d.Name))
		}
		if d.Name == "" || d.Kind == "" || d.Scope == "" {
			panic(fmt.Sprintf("switches: %q needs a name, a kind and a scope", d.Name))
		}
		r.index[d.Name] = i
	}
	r.cur.Store(r.build(&Snapshot{}))
	return r
}

// build turns a snapshot into a view; a state naming a switch this process
// does not know, or holding a value it cannot read, is skipped (a newer
// writer may know switches an older reader does not).
func (r *Registry) build(s *Snapshot) *view {
	v := &view{snap: s, entries: make(map[string]*entry, len(r.defs))}
	for _, d := range r.defs {
		v.entries[d.Name] = &entry{def: d, value: d.Default}
	}
	for _, st := range s.Switches {
		e, ok := v.entries[st.Name]
		if !ok {
			continue
		}
		val, err := Parse(e.def.Kind, st.Value)
		if err != nil || st.Rules.Validate() != nil {
			slog.Warn("switches: skipping an unreadable state", "switch", st.Name, "version", s.Version)
			continue
		}
		e.value, e.rules, e.state = val, compile(st.Rules), st
	}
	return v
}

// Install makes s current if it is newer than the current snapshot and
// reports whether it did. Watchers run after the swap, in Install's goroutine.
func (r *Registry) Install(s *Snapshot) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s == nil || s.Version <= r.cur.Load().snap.Version {
		return false
	}
	r.cur.Store(r.build(s))
	for _, w := range r.watchers {
		w(s)
	}
	return true
}

// Watch calls fn after every snapshot Install makes current.
func (r *Registry) Watch(fn func(*Snapshot)) {
	r.mu.Lock()
	r.watchers = append(r.watchers, fn)
	r.mu.Unlock()
}

// Snapshot returns the current snapshot (do not modify it).
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load().snap }

// Version returns the current snapshot's version (0: nothing loaded yet).
func (r *Registry) Version() int64 { return r.cur.Load().snap.Version }

// Defs returns the catalogue the registry was built with.
func (r *Registry) Defs() []Def { return r.defs }

// Def returns the definition of name.
func (r *Registry) Def(name string) (Def, bool) {
	i, ok := r.index[name]
	if !ok {
		return Def{}, false
	}
	return r.defs[i], true
}

func (r *Registry) entry(name string) *entry {
	e := r.cur.Load().entries[name]
	if e == nil {
		// Names come from the catalogue's constants; reaching this is a
		// programming error, and a hot path must not crash on it.
		slog.Error("switches: read of a switch the catalogue does not define", "switch", name)
		return &entry{}
	}
	return e
}

// Enabled reports whether the switch name applies to s: its value is not
// zero (on, above 0%, a non-zero number) and its rules select s (see Rules).
// An unknown name is never enabled.
func (r *Registry) Enabled(name string, s Subject) bool {
	e := r.entry(name)
	if e.value == 0 {
		return false
	}
	pct := int64(-1)
	if e.def.Kind == KindPercent {
		pct = int64(e.value)
	}
	return e.rules.selects(name, s, pct)
}

// Value returns the switch's raw value, whatever its rules.
func (r *Registry) Value(name string) Value { return r.entry(name).value }

// Bool returns a bool switch's value, whatever its rules.
func (r *Registry) Bool(name string) bool { return r.entry(name).value != 0 }

// Int returns an int switch's value.
func (r *Registry) Int(name string) int64 { return int64(r.entry(name).value) }

// Duration returns a duration switch's value.
func (r *Registry) Duration(name string) time.Duration { return time.Duration(r.entry(name).value) }

// Percent returns a percent switch's value, 0 to 100.
func (r *Registry) Percent(name string) float64 { return float64(r.entry(name).value) / 100 }

// Current is one switch as listed to an operator.
type Current struct {
	Def
	Value     string // text form
	Rules     *Rules
	Set       bool // false: never set, the value is the default
	UpdatedAt time.Time
	UpdatedBy string
}

// List returns every switch of the catalogue with its current value, in
// catalogue order.
func (r *Registry) List() []Current {
	v := r.cur.Load()
	out := make([]Current, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, v.entries[d.Name].current())
	}
	return out
}

// Get returns one switch with its current value.
func (r *Registry) Get(name string) (Current, bool) {
	e, ok := r.cur.Load().entries[name]
	if !ok {
		return Current{}, false
	}
	return e.current(), true
}

func (e *entry) current() Current {
	return Current{Def: e.def, Value: Format(e.def.Kind, e.value), Rules: e.state.Rules,
		Set: e.state.Name != "", UpdatedAt: e.state.UpdatedAt, UpdatedBy: e.state.UpdatedBy}
}
