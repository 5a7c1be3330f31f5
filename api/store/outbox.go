package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// OutboxRow is one committed unit of push work.
type OutboxRow struct {
	ID        int64
	Payload   []byte // JSON of an OutboxPayload
	CreatedAt time.Time
}

// OutboxTarget is one user an outbox row is for, with the version the entry
// has in that user's timeline.
type OutboxTarget struct {
	UserID  int64  `json:"user_id"`
	Version uint64 `json:"version"`
}

// OutboxPayload is what an outbox row holds.
type OutboxPayload struct {
	Kind    string          `json:"kind"`              // the entry kind (tether.EntryMessage, ...)
	Body    json.RawMessage `json:"body"`              // the entry exactly as clients receive it, without version
	Targets []OutboxTarget  `json:"targets"`           //
	PushID  string          `json:"push_id,omitempty"` // tether.EntryPush: the third-party push it delivers
	// Message names the message of a tether.EntryMessage row, typed, so
	// the relay reads who sent what where without parsing Body. Rows
	// written before it was carried have none.
	Message *OutboxMessage `json:"message,omitempty"`
	// Conversation is the kind of conversation the entry belongs to
	// (OutboxGroup or OutboxDirect), so the relay's group fan-out limit
	// tells a group of two from a 1:1 chat; the group's member count is
	// then len(Targets), the members whose timelines got the entry. Empty
	// for entries outside a conversation and for rows written before it
	// was carried (the relay then judges by the target count alone), and
	// a kind this binary does not know is read the same way, so a newer
	// release's rows never stop an older relay in a rolling upgrade.
	Conversation string `json:"conversation,omitempty"`
}

// The conversation kinds an OutboxPayload names.
const (
	OutboxGroup  = "group"
	OutboxDirect = "direct"
)

// outboxConversation is the Conversation of an entry in conversation id.
func outboxConversation(id string) string {
	if _, ok := tether.ParseGroupConversationID(id); ok {
		return OutboxGroup
	}
	if _, _, ok := tether.ParseDirectConversationID(id); ok {
		return OutboxDirect
	}
	return ""
}

// OutboxMessage is the message a message row carries.
type OutboxMessage struct {
	ID             int64  `json:"id"`
	SenderID       int64  `json:"sender_id"`
	ConversationID string `json:"conversation_id"`
}

// entryKinds are the timeline entry kinds an outbox row may carry.
var entryKinds = []string{tether.EntryMessage, tether.EntryRecall, tether.EntryRead, tether.EntryConversation, tether.EntryGroup, tether.EntryPush}

// Decode parses and checks the row's payload. An error means the row can
// never be published.
func (r OutboxRow) Decode() (OutboxPayload, error) { return DecodeOutbox(r.Payload) }

// DecodeOutbox parses and checks an outbox payload.
func DecodeOutbox(b []byte) (OutboxPayload, error) {
	var p OutboxPayload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("store: outbox payload: %w", err)
	}
	switch {
	case !slices.Contains(entryKinds, p.Kind):
		return p, fmt.Errorf("store: outbox payload: unknown kind %q", p.Kind)
	case len(p.Body) == 0 || !json.Valid(p.Body):
		return p, errors.New("store: outbox payload: missing or invalid body")
	case len(p.Targets) == 0:
		return p, errors.New("store: outbox payload: no targets")
	case p.Message != nil && (p.Kind != tether.EntryMessage || p.Message.ID <= 0 || p.Message.SenderID <= 0):
		return p, fmt.Errorf("store: outbox payload: bad message %+v", *p.Message)
	}
	for _, t := range p.Targets {
		if t.UserID <= 0 || t.Version == 0 {
			return p, fmt.Errorf("store: outbox payload: bad target %+v", t)
		}
	}
	return p, nil
}

// maxClaim bounds one claim, so one transaction never holds too many row locks.
const maxClaim = 4096

// ClaimOutbox hands up to limit of the oldest outbox rows to fn inside a
// transaction and deletes them if fn returns nil; otherwise they stay for a
// later claim. On MySQL, rows another transaction has claimed are skipped, so
// several relays work in parallel without handing a row to two of them. It
// returns how many rows fn handled (0 when the outbox is empty, and fn is not
// called then).
//
// A crash after fn published but before the commit leaves the rows to be
// published again: delivery is at least once.
func (db *DB) ClaimOutbox(ctx context.Context, limit int, fn func(rows []OutboxRow) error) (int, error) {
	return db.claimOutbox(ctx, limit, func(_ *gorm.DB, rows []OutboxRow) error { return fn(rows) })
}

// claimOutbox is ClaimOutbox with fn given the claim's transaction, so it can
// write in it (ClaimOutboxNotify queues webhook deliveries there).
func (db *DB) claimOutbox(ctx context.Context, limit int, fn func(tx *gorm.DB, rows []OutboxRow) error) (int, error) {
	if limit <= 0 || limit > maxClaim {
		return 0, fmt.Errorf("store: claim limit %d out of range 1..%d", limit, maxClaim)
	}
	n := 0
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []outboxRow
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
			Order("id").Limit(limit).Find(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		out := make([]OutboxRow, len(rows))
		ids := make([]int64, len(rows))
		for i, r := range rows {
			out[i] = OutboxRow{ID: r.ID, Payload: []byte(r.Payload), CreatedAt: r.CreatedAt.UTC()}
			ids[i] = r.ID
		}
		// Delete before handing the rows out, so a failed delete (a
		// deadlock victim, say) happens before anything was published.
		if err := db.deleteOutbox(tx, ids); err != nil {
			return err
		}
		if err := fn(tx, out); err != nil {
			return err
		}
		n = len(rows)
		return nil
	}, db.txOptions())
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deleteOutbox deletes claimed rows in one statement. On MySQL it joins
// the ids, as a derived table read first (STRAIGHT_JOIN), to outbox by
// primary key: a plain "id IN (...)" that names most of a small table is
// planned as a full scan, which waits on rows other relays have claimed
// and deadlocks with them (TestClaimOutbox_ConcurrentClaimersOnMySQLNeverShareARow).
func (db *DB) deleteOutbox(tx *gorm.DB, ids []int64) error {
	if db.dialect != DriverMySQL {
		return tx.Where("id IN ?", ids).Delete(&outboxRow{}).Error
	}
	var b strings.Builder
	args := make([]any, len(ids))
	b.WriteString("DELETE o FROM (SELECT ? AS id")
	for i, id := range ids {
		args[i] = id
		if i > 0 {
			b.WriteString(" UNION ALL SELECT ?")
		}
	}
	b.WriteString(") AS claimed STRAIGHT_JOIN outbox AS o ON o.id = claimed.id")
	res := tx.Exec(b.String(), args...)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != int64(len(ids)) {
		return fmt.Errorf("store: outbox: deleted %d of %d claimed rows", res.RowsAffected, len(ids))
	}
	return nil
}

// OutboxLenMax bounds OutboxLen's count: the outbox is empty in health,
// and the relay counts it every second (the live table's outbox backlog),
// where an exact count of a huge backlog would cost a scan each time.
const OutboxLenMax = 100000

// OutboxLen counts the rows waiting in the outbox, up to OutboxLenMax (a
// larger outbox reads as OutboxLenMax).
func (db *DB) OutboxLen(ctx context.Context) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Raw("SELECT COUNT(*) FROM (SELECT id FROM outbox LIMIT ?) AS waiting", OutboxLenMax).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: outbox length: %w", err)
	}
	return n, nil
}
