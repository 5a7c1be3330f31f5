package switches

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Store keeps the switches durably, with their history. The database
// implements it on the API side (api/store); MemoryStore in tests and
// single-process setups.
type Store interface {
	// Snapshot returns every switch that was set, at the version of the
	// latest change.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Set applies a validated change (see Change.Check) and records it in the
	// history; it returns the record.
	Set(ctx context.Context, c Change) (Record, error)
	// History returns the latest changes of name, newest first (all
	// switches when name is empty), at most limit.
	History(ctx context.Context, name string, limit int) ([]Record, error)
}

// Change is an operator's request to set a switch: its new value and rules
// (rules are replaced as a whole; nil removes them).
type Change struct {
	Name   string
	Value  string
	Rules  *Rules
	Actor  string // who: the API key's name or the CLI's user
	Reason string // why: required
}

// MaxReason bounds a change's reason, in characters.
const MaxReason = 500

// Check validates c against the definition of its switch and returns it
// with the value in its canonical text form.
func (c Change) Check(r *Registry) (Change, error) {
	d, ok := r.Def(c.Name)
	if !ok {
		return c, ErrUnknown
	}
	v, err := Parse(d.Kind, c.Value)
	if err != nil {
		return c, err
	}
	c.Value = Format(d.Kind, v)
	c.Reason = strings.TrimSpace(c.Reason)
	switch {
	case c.Reason == "":
		return c, invalidf("a change needs a reason")
	case utf8.RuneCountInString(c.Reason) > MaxReason:
		return c, invalidf("the reason is longer than %d characters", MaxReason)
	case !utf8.ValidString(c.Reason):
		return c, invalidf("the reason is not UTF-8")
	}
	if c.Actor == "" {
		return c, invalidf("a change needs an actor")
	}
	if err := c.Rules.Validate(); err != nil {
		return c, err
	}
	if c.Rules.Empty() {
		c.Rules = nil
	}
	return c, nil
}

// Record is one change in the history.
type Record struct {
	ID       int64     `json:"id"` // the snapshot version it made
	Name     string    `json:"name"`
	OldValue string    `json:"old_value"` // empty when the switch was never set
	NewValue string    `json:"new_value"`
	OldRules *Rules    `json:"old_rules,omitempty"`
	NewRules *Rules    `json:"new_rules,omitempty"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}
