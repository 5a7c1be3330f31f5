package relay

import (
	"testing"

	"github.com/tetherim/tether/api/store"
)

// Outbox rows written before the conversation's kind was carried keep the
// old rule (more than two targets is a group entry), so a rolling upgrade
// changes nothing for rows already queued; rows that carry it are judged
// by it, and a kind this binary does not know falls back to the old rule.
func TestRelay_FanoutLimitJudgesRowsWithoutAConversationKindAsBefore(t *testing.T) {
	r := &Relay{cfg: Config{FanoutLimit: func() int64 { return 1 }}}
	for _, c := range []struct {
		payload string
		held    bool
	}{
		{`{"kind":"message","body":{},"targets":[{"user_id":1,"version":1},{"user_id":2,"version":1}]}`, false},
		{`{"kind":"message","body":{},"targets":[{"user_id":1,"version":1},{"user_id":2,"version":1},{"user_id":3,"version":1}]}`, true},
		{`{"kind":"message","body":{},"conversation":"direct","targets":[{"user_id":1,"version":1},{"user_id":2,"version":1}]}`, false},
		{`{"kind":"message","body":{},"conversation":"group","targets":[{"user_id":1,"version":1},{"user_id":2,"version":1}]}`, true},
		{`{"kind":"read","body":{},"conversation":"group","targets":[{"user_id":1,"version":1}]}`, false},
		{`{"kind":"message","body":{},"conversation":"channel","targets":[{"user_id":1,"version":1},{"user_id":2,"version":1}]}`, false},
	} {
		p, err := store.DecodeOutbox([]byte(c.payload))
		if err != nil {
			t.Fatalf("%s: %v", c.payload, err)
		}
		if got := r.fanoutDegraded(p); got != c.held {
			t.Errorf("%s: held %v, want %v", c.payload, got, c.held)
		}
	}
	if (&Relay{}).fanoutDegraded(store.OutboxPayload{Conversation: store.OutboxGroup, Targets: make([]store.OutboxTarget, 5)}) {
		t.Error("held with no limit configured")
	}
}
