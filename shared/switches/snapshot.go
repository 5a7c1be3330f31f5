package switches

import (
	"encoding/json"
	"time"
)

// Snapshot is the full state of the switches at one version: every switch
// that was ever set (the others have their default). It is immutable once
// built; its JSON form is what travels on Redis and in the local file.
type Snapshot struct {
	// Version grows with every change (the id of the latest change in the
	// history), so a process never goes back to an older state.
	Version  int64   `json:"version"`
	Switches []State `json:"switches"`
}

// State is one switch's current setting.
type State struct {
	Name string `json:"name"`
	// Value is the text form (Format), so a snapshot reads the same in
	// every process whatever its catalogue.
	Value     string    `json:"value"`
	Rules     *Rules    `json:"rules,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Encode returns the snapshot's JSON form.
func (s *Snapshot) Encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Snapshot is plain data; Marshal cannot fail
	}
	return b
}

// DecodeSnapshot reads Encode's form.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, invalidf("snapshot: %v", err)
	}
	return &s, nil
}
