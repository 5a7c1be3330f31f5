package switches

import (
	"context"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store in memory: for tests and a single process.
type MemoryStore struct {
	mu      sync.Mutex
	states  map[string]State
	history []Record
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{states: map[string]State{}} }

// Snapshot implements Store.
func (m *MemoryStore) Snapshot(context.Context) (*Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &Snapshot{Version: int64(len(m.history))}
	for _, st := range m.states {
		s.Switches = append(s.Switches, st)
	}
	slices.SortFunc(s.Switches, func(a, b State) int { return compareStrings(a.Name, b.Name) })
	return s, nil
}

// Set implements Store.
func (m *MemoryStore) Set(_ context.Context, c Change) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.states[c.Name]
	now := time.Now().UTC()
	rec := Record{ID: int64(len(m.history)) + 1, Name: c.Name, OldValue: old.Value, NewValue: c.Value,
		OldRules: old.Rules, NewRules: c.Rules, Actor: c.Actor, Reason: c.Reason, At: now}
	m.history = append(m.history, rec)
	m.states[c.Name] = State{Name: c.Name, Value: c.Value, Rules: c.Rules, UpdatedAt: now, UpdatedBy: c.Actor}
	return rec, nil
}

// History implements Store.
func (m *MemoryStore) History(_ context.Context, name string, limit int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for i := len(m.history) - 1; i >= 0 && len(out) < limit; i-- {
		if name == "" || m.history[i].Name == name {
			out = append(out, m.history[i])
		}
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
