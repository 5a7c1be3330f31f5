package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// The timeline store: appending an entry to many users' timelines at once,
// under their locked heads, with the outbox row that pushes it to them.

// fanoutChunk bounds the users one statement names. It is a whole group
// (tether.MaxGroupMembers): one statement per step of a group send, not four,
// halved the send's p99 under load (TestGroupSend_AcceptLatency with
// TETHER_GROUP_MEASURE=1: about 900 -> 500 ms on a shared 2-core machine),
// since every statement is round trips the database and its client wait
// for a CPU. The widest row, a conversation's 11 columns, makes 22,000
// placeholders: under SQLite's 32,766 and MySQL's 65,535.
const fanoutChunk = 2000

// newEntry is one timeline entry to append to many users' timelines.
type newEntry struct {
	Kind           string          // an tether.Entry* kind
	ConversationID string          // "" for entries outside a conversation
	MessageID      *int64          // EntryMessage
	Message        *tether.Message // EntryMessage: pushed in the entry's body
	Event          json.RawMessage // every other kind: the entry's event object
	PushID         string          // EntryPush: copied into push jobs for delivery status
}

// entryBody is a timeline entry as pushed to clients: tether.Entry without the
// version, which differs per recipient and travels beside the body.
type entryBody struct {
	Kind           string          `json:"kind"`
	ConversationID string          `json:"conversation_id,omitempty"`
	Message        *tether.Message `json:"message,omitempty"`
	Event          json.RawMessage `json:"event,omitempty"`
}

// appendToTimelines appends e to the timeline of every user in users and queues one
// outbox row that pushes it to all of them, inside tx. It returns each
// user's new version. users may be in any order and hold duplicates.
func appendToTimelines(tx *gorm.DB, users []int64, e newEntry) (map[int64]uint64, error) {
	l, err := lockTimelines(tx, users)
	if err != nil {
		return nil, err
	}
	return l.append(tx, e)
}

// lockedTimelines are timeline heads locked by a transaction: until it ends,
// nobody else appends to these timelines.
type lockedTimelines struct {
	uids  []int64
	heads []headRow // ascending user id, one per uid
}

// lockTimelines locks the timeline heads of users. Heads are locked in
// ascending user id order by every writer, so concurrent fan-outs over
// overlapping users never deadlock; a missing head (an account made outside
// Register) is created on the way.
//
// Lock before inserting a message: then the message ids of a conversation
// follow the versions of its entries in every participant's timeline.
func lockTimelines(tx *gorm.DB, users []int64) (*lockedTimelines, error) {
	uids := slices.Clone(users)
	slices.Sort(uids)
	uids = slices.Compact(uids)
	if len(uids) == 0 || uids[0] <= 0 {
		return nil, errors.New("store: timeline: no users or a bad user id")
	}
	heads, err := lockHeads(tx, uids)
	if err != nil {
		return nil, err
	}
	if len(heads) < len(uids) {
		if err := createHeads(tx, uids, heads); err != nil {
			return nil, err
		}
		if heads, err = lockHeads(tx, uids); err != nil {
			return nil, err
		}
		if len(heads) < len(uids) {
			return nil, errors.New("store: timeline: timeline heads missing after creating them")
		}
	}
	return &lockedTimelines{uids: uids, heads: heads}, nil
}

// append appends e to every locked timeline and queues its push. Call it
// once per lock: the heads it holds are not updated.
func (l *lockedTimelines) append(tx *gorm.DB, e newEntry) (map[int64]uint64, error) {
	// Every head is locked, so each new version is the old one plus one.
	if err := bumpHeads(tx, l.uids); err != nil {
		return nil, err
	}
	var convID, event *string
	if e.ConversationID != "" {
		convID = &e.ConversationID
	}
	if len(e.Event) > 0 {
		ev := string(e.Event)
		event = &ev
	}
	versions := make(map[int64]uint64, len(l.heads))
	rows := make([]timelineRow, 0, len(l.heads))
	targets := make([]OutboxTarget, 0, len(l.heads))
	for _, h := range l.heads {
		v := h.Version + 1
		versions[h.UserID] = v
		rows = append(rows, timelineRow{UserID: h.UserID, Version: v, Kind: e.Kind, MessageID: e.MessageID, ConversationID: convID, Event: event})
		targets = append(targets, OutboxTarget{UserID: h.UserID, Version: v})
	}
	if err := tx.CreateInBatches(rows, fanoutChunk).Error; err != nil {
		return nil, err
	}
	row, err := outboxFor(e, targets)
	if err != nil {
		return nil, err
	}
	if err := tx.Create(&row).Error; err != nil {
		return nil, err
	}
	return versions, nil
}

// outboxFor is the outbox row that pushes e to targets.
func outboxFor(e newEntry, targets []OutboxTarget) (outboxRow, error) {
	body, err := json.Marshal(entryBody{Kind: e.Kind, ConversationID: e.ConversationID, Message: e.Message, Event: e.Event})
	if err != nil {
		return outboxRow{}, err
	}
	op := OutboxPayload{Kind: e.Kind, Body: body, Targets: targets, PushID: e.PushID, Conversation: outboxConversation(e.ConversationID)}
	if e.Kind == tether.EntryMessage && e.Message != nil {
		op.Message = &OutboxMessage{ID: e.Message.ID, SenderID: e.Message.SenderID, ConversationID: e.Message.ConversationID}
	}
	payload, err := json.Marshal(op)
	if err != nil {
		return outboxRow{}, err
	}
	return outboxRow{CreatedAt: now(), Payload: string(payload)}, nil
}

// appendEach appends to each locked timeline its own entry, entries[user]
// (a locked user without one gets nothing), each with its own push: for
// events that differ per user, such as a read receipt whose version only
// the reader's copy carries. Like append, call it once per lock and not
// together with append.
func (l *lockedTimelines) appendEach(tx *gorm.DB, entries map[int64]newEntry) (map[int64]uint64, error) {
	versions := make(map[int64]uint64, len(entries))
	for _, h := range l.heads {
		e, ok := entries[h.UserID]
		if !ok {
			continue
		}
		one := &lockedTimelines{uids: []int64{h.UserID}, heads: []headRow{h}}
		v, err := one.append(tx, e)
		if err != nil {
			return nil, err
		}
		versions[h.UserID] = v[h.UserID]
	}
	return versions, nil
}

// head returns the locked head version of uid (0 if uid is not locked).
func (l *lockedTimelines) head(uid int64) uint64 {
	for _, h := range l.heads {
		if h.UserID == uid {
			return h.Version
		}
	}
	return 0
}

// lockHeads locks and returns the existing heads of uids (sorted, unique),
// in ascending user id order. One or two heads are locked by key alone: for
// "IN (...)" on a small table MySQL may scan and lock every head.
func lockHeads(tx *gorm.DB, uids []int64) ([]headRow, error) {
	heads := make([]headRow, 0, len(uids))
	lock := clause.Locking{Strength: clause.LockingStrengthUpdate}
	if len(uids) <= 2 {
		for _, uid := range uids {
			var h []headRow
			if err := tx.Clauses(lock).Where("user_id = ?", uid).Limit(1).Find(&h).Error; err != nil {
				return nil, err
			}
			heads = append(heads, h...)
		}
		return heads, nil
	}
	for chunk := range slices.Chunk(uids, fanoutChunk) {
		var hs []headRow
		if err := tx.Clauses(lock).Where("user_id IN ?", chunk).Order("user_id").Find(&hs).Error; err != nil {
			return nil, err
		}
		heads = append(heads, hs...)
	}
	return heads, nil
}

// createHeads creates the heads of uids that have none. Both uids and
// have are in ascending user id order (lockHeads), so one merge pass finds
// the missing ones.
func createHeads(tx *gorm.DB, uids []int64, have []headRow) error {
	var missing []headRow
	j := 0
	for _, uid := range uids {
		for j < len(have) && have[j].UserID < uid {
			j++
		}
		if j == len(have) || have[j].UserID != uid {
			missing = append(missing, headRow{UserID: uid})
		}
	}
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(missing, fanoutChunk).Error
	if err = orNoAccount(err); err == errNoAccount {
		return err
	} else if err != nil {
		return fmt.Errorf("store: create timeline heads: %w", err)
	}
	return nil
}

// bumpHeads adds one to the version of every head in uids (locked by the caller).
func bumpHeads(tx *gorm.DB, uids []int64) error {
	if len(uids) <= 2 {
		for _, uid := range uids {
			if err := tx.Model(&headRow{}).Where("user_id = ?", uid).Update("version", gorm.Expr("version + 1")).Error; err != nil {
				return err
			}
		}
		return nil
	}
	for chunk := range slices.Chunk(uids, fanoutChunk) {
		if err := tx.Model(&headRow{}).Where("user_id IN ?", chunk).Update("version", gorm.Expr("version + 1")).Error; err != nil {
			return err
		}
	}
	return nil
}

// conversationRows are the conversation list entries a new message makes
// for the users that got it (versions: user -> the message's version in
// their timeline): it becomes the last message, the list entry reappears
// if it was deleted, and it counts as unread for everyone but the sender,
// for whom sending reads the conversation.
func conversationRows(m *tether.Message, versions map[int64]uint64) []conversationRow {
	rows := make([]conversationRow, 0, len(versions))
	for uid, v := range versions {
		r := conversationRow{
			UserID: uid, ConversationID: m.ConversationID,
			LastMessageID: m.ID, LastVersion: v, UnreadCount: 1, UpdatedAt: m.CreatedAt,
		}
		switch {
		case m.GroupID != 0:
			r.GroupID = &m.GroupID
		case uid == m.SenderID:
			r.PeerID = &m.RecipientID
		default:
			r.PeerID = &m.SenderID
		}
		if uid == m.SenderID {
			r.UnreadCount, r.ReadVersion = 0, v
		}
		rows = append(rows, r)
	}
	return rows
}

// upsertConversations writes conversation list entries in one statement
// per fanoutChunk rows. Rows for the same entry (several messages of one
// batch in one conversation) are applied in turn, so they must come in
// message order: the database applies the upsert row by row.
func (db *DB) upsertConversations(tx *gorm.DB, rows []conversationRow) error {
	// Insert in user id order, like every other multi-row lock taker.
	slices.SortStableFunc(rows, func(a, b conversationRow) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.LastMessageID, b.LastMessageID))
	})
	// excluded.x (SQLite) and VALUES(x) (MySQL) name the value the insert
	// would have written.
	val := func(col string) string { return "excluded." + col }
	greatest := "MAX"
	if db.dialect == DriverMySQL {
		val = func(col string) string { return "VALUES(" + col + ")" }
		greatest = "GREATEST"
	}
	upsert := clause.OnConflict{
		Columns: []clause.Column{{Name: "user_id"}, {Name: "conversation_id"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "last_message_id"}, Value: gorm.Expr(val("last_message_id"))},
			{Column: clause.Column{Name: "last_version"}, Value: gorm.Expr(val("last_version"))},
			{Column: clause.Column{Name: "read_version"}, Value: gorm.Expr(greatest + "(read_version, " + val("read_version") + ")")},
			{Column: clause.Column{Name: "unread_count"}, Value: gorm.Expr("CASE WHEN " + val("unread_count") + " = 0 THEN 0 ELSE unread_count + " + val("unread_count") + " END")},
			{Column: clause.Column{Name: "hidden"}, Value: false},
			{Column: clause.Column{Name: "updated_at"}, Value: gorm.Expr(val("updated_at"))},
		},
	}
	return tx.Clauses(upsert).CreateInBatches(rows, fanoutChunk).Error
}
