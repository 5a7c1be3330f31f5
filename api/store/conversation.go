package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// ConversationService implements tether.ConversationService on the
// conversations table that Send keeps current (touchConversations).
//
// Every write here locks the user's timeline head before the conversation
// row, like Send does, so a read, mute or delete and a new message of the
// same conversation apply one after the other and never deadlock.
type ConversationService struct {
	db       *DB
	onCommit func()
	receipts func(ctx context.Context, readerID int64) bool // nil: always send read receipts
}

var _ tether.ConversationService = (*ConversationService)(nil)

// NewConversationService returns the conversation service. onCommit (may be
// nil) is called after every commit that wrote outbox rows, to wake the relay.
func NewConversationService(db *DB, onCommit func(), opts ...ConversationOption) tether.ConversationService {
	s := &ConversationService{db: db, onCommit: onCommit}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ConversationOption adjusts a ConversationService.
type ConversationOption func(*ConversationService)

// WithReadReceipts makes MarkRead tell the 1:1 peer only while on(ctx,
// reader) reports true: the read_receipts degradation switch, evaluated per
// request (ctx is MarkRead's, which carries what the caller's rules need).
// Off, the read is still recorded and reaches the reader's own devices; the
// peer gets no read entry, as if the reader had not read yet.
func WithReadReceipts(on func(ctx context.Context, readerID int64) bool) ConversationOption {
	return func(s *ConversationService) { s.receipts = on }
}

// Conversations lists the user's conversations that are not deleted, by
// last message id descending (newest activity first). The page is one
// query on ix_conversations_list and the last messages one more.
func (s *ConversationService) Conversations(ctx context.Context, userID int64, cursor string, limit int) (*tether.ConversationPage, error) {
	if userID <= 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	limit = clampLimit(limit)
	g := s.db.g.WithContext(ctx)
	q := g.Where("user_id = ? AND hidden = ?", userID, false)
	if cursor != "" {
		lastID, convID, ok := decodeConversationCursor(cursor)
		if !ok {
			return nil, tether.Errorf(tether.EINVALID, "bad cursor")
		}
		q = q.Where("(last_message_id < ? OR (last_message_id = ? AND conversation_id < ?))", lastID, lastID, convID)
	}
	var rows []conversationRow
	if err := q.Order("last_message_id DESC, conversation_id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	page := &tether.ConversationPage{Conversations: make([]tether.Conversation, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		page.NextCursor = encodeConversationCursor(last.LastMessageID, last.ConversationID)
	}
	msgs, err := lastMessages(g, rows)
	if err != nil {
		return nil, fmt.Errorf("store: conversations: %w", err)
	}
	for _, r := range rows {
		page.Conversations = append(page.Conversations, r.conversation(msgs[r.LastMessageID]))
	}
	return page, nil
}

// Conversation returns one conversation of the user's list.
func (s *ConversationService) Conversation(ctx context.Context, userID int64, conversationID string) (*tether.Conversation, error) {
	if _, err := conversationPeer(userID, conversationID); err != nil {
		return nil, err
	}
	g := s.db.g.WithContext(ctx)
	row, err := listedConversation(g, userID, conversationID, false)
	if err != nil {
		return nil, err
	}
	return s.withLastMessage(g, row)
}

// MarkRead sets the read version, recounts the unread messages and, when
// messages were read, appends an EntryRead to the reader's timeline (with
// the version, so the reader's other devices can apply it) and, for a 1:1
// conversation, to the peer's (without: it is a version of the reader's
// timeline) unless the peer blocked the reader. Group read receipts go to the reader's own devices only: one
// read in a group of n members would otherwise append n entries and push n
// frames, and members read all the time.
func (s *ConversationService) MarkRead(ctx context.Context, userID int64, conversationID string, version uint64) (*tether.Conversation, error) {
	peer, err := conversationPeer(userID, conversationID)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		return nil, tether.Errorf(tether.EINVALID, "version must be a version of your timeline (1 or more)")
	}
	var row *conversationRow
	wrote := false
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		wrote = false
		users := []int64{userID}
		if peer != 0 {
			users = append(users, peer)
		}
		// Both heads in one lock call (ascending ids), like every writer.
		locked, err := lockTimelines(tx, users)
		if err != nil {
			return err
		}
		if head := locked.head(userID); version > head {
			return tether.Errorf(tether.EINVALID, "version %d is after the newest version of your timeline (%d)", version, head)
		}
		if row, err = listedConversation(tx, userID, conversationID, true); err != nil {
			return err
		}
		if version <= row.ReadVersion {
			return nil
		}
		// The newest message read now; message ids follow versions within a
		// conversation (Send locks the timelines before inserting).
		var newest sql.NullInt64
		err = tx.Model(&timelineRow{}).Select("MAX(message_id)").
			Where("user_id = ? AND conversation_id = ? AND kind = ? AND version > ? AND version <= ?",
				userID, conversationID, tether.EntryMessage, row.ReadVersion, version).
			Row().Scan(&newest)
		if err != nil {
			return err
		}
		var unread int64
		err = tx.Table("timeline AS t").Joins("JOIN messages AS m ON m.id = t.message_id").
			Where("t.user_id = ? AND t.conversation_id = ? AND t.kind = ? AND t.version > ? AND m.sender_id <> ? AND m.recalled_at IS NULL",
				userID, conversationID, tether.EntryMessage, version, userID).
			Count(&unread).Error
		if err != nil {
			return err
		}
		row.ReadVersion, row.UnreadCount = version, int(unread)
		err = tx.Model(&conversationRow{}).Where("user_id = ? AND conversation_id = ?", userID, conversationID).
			Updates(map[string]any{"read_version": version, "unread_count": unread}).Error
		if err != nil || !newest.Valid {
			return err
		}
		entries := make(map[int64]newEntry, 2)
		mine, err := json.Marshal(tether.ReadEvent{ReaderID: userID, MessageID: newest.Int64, Version: version})
		if err != nil {
			return err
		}
		entries[userID] = newEntry{Kind: tether.EntryRead, ConversationID: conversationID, Event: mine}
		// A peer who blocked the reader is not told what they read.
		peerBlocked := false
		if peer != 0 {
			if peerBlocked, err = blocked(tx, peer, userID); err != nil {
				return err
			}
		}
		if peer != 0 && !peerBlocked && (s.receipts == nil || s.receipts(ctx, userID)) {
			theirs, err := json.Marshal(tether.ReadEvent{ReaderID: userID, MessageID: newest.Int64})
			if err != nil {
				return err
			}
			entries[peer] = newEntry{Kind: tether.EntryRead, ConversationID: conversationID, Event: theirs}
		}
		if _, err := locked.appendEach(tx, entries); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if err != nil {
		return nil, wrapConversationErr("mark read", err)
	}
	s.committed(wrote)
	return s.withLastMessage(s.db.g.WithContext(ctx), row)
}

// SetMuted mutes or unmutes the conversation for the user.
func (s *ConversationService) SetMuted(ctx context.Context, userID int64, conversationID string, muted bool) (*tether.Conversation, error) {
	var row *conversationRow
	wrote, err := s.ownChange(ctx, userID, conversationID, func(tx *gorm.DB, r *conversationRow) (*tether.ConversationEvent, error) {
		row = r
		if r.Hidden {
			return nil, tether.Errorf(tether.ENOTFOUND, "conversation not found")
		}
		if r.Muted == muted {
			return nil, nil
		}
		r.Muted = muted
		err := tx.Model(&conversationRow{}).Where("user_id = ? AND conversation_id = ?", userID, conversationID).Update("muted", muted).Error
		return &tether.ConversationEvent{Muted: muted}, err
	})
	if err != nil {
		return nil, wrapConversationErr("mute", err)
	}
	s.committed(wrote)
	return s.withLastMessage(s.db.g.WithContext(ctx), row)
}

// DeleteConversation hides the conversation from the user's list, read up
// to its last message. Deleting a deleted conversation changes nothing.
func (s *ConversationService) DeleteConversation(ctx context.Context, userID int64, conversationID string) error {
	wrote, err := s.ownChange(ctx, userID, conversationID, func(tx *gorm.DB, r *conversationRow) (*tether.ConversationEvent, error) {
		if r.Hidden {
			return nil, nil
		}
		err := tx.Model(&conversationRow{}).Where("user_id = ? AND conversation_id = ?", userID, conversationID).
			Updates(map[string]any{"hidden": true, "unread_count": 0, "read_version": max(r.ReadVersion, r.LastVersion)}).Error
		return &tether.ConversationEvent{Muted: r.Muted, Deleted: true}, err
	})
	if err != nil {
		return wrapConversationErr("delete", err)
	}
	s.committed(wrote)
	return nil
}

// ownChange runs change on the user's locked conversation row (hidden rows
// too, for delete's sake: change decides) and appends the event it returns
// to the user's own timeline; a nil event means nothing changed.
func (s *ConversationService) ownChange(ctx context.Context, userID int64, conversationID string,
	change func(tx *gorm.DB, r *conversationRow) (*tether.ConversationEvent, error)) (wrote bool, err error) {
	if _, err := conversationPeer(userID, conversationID); err != nil {
		return false, err
	}
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		wrote = false
		locked, err := lockTimelines(tx, []int64{userID})
		if err != nil {
			return err
		}
		var rows []conversationRow
		err = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("user_id = ? AND conversation_id = ?", userID, conversationID).Limit(1).Find(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return tether.Errorf(tether.ENOTFOUND, "conversation not found")
		}
		ev, err := change(tx, &rows[0])
		if err != nil || ev == nil {
			return err
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if _, err := locked.append(tx, newEntry{Kind: tether.EntryConversation, ConversationID: conversationID, Event: body}); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	return wrote, err
}

func (s *ConversationService) committed(wrote bool) {
	if wrote && s.onCommit != nil {
		s.onCommit()
	}
}

func wrapConversationErr(op string, err error) error {
	if tether.ErrorCode(err) != tether.EINTERNAL {
		return err
	}
	return fmt.Errorf("store: %s conversation: %w", op, err)
}

// withLastMessage turns a row into an tether.Conversation with its last message.
func (s *ConversationService) withLastMessage(g *gorm.DB, row *conversationRow) (*tether.Conversation, error) {
	msgs, err := lastMessages(g, []conversationRow{*row})
	if err != nil {
		return nil, fmt.Errorf("store: conversation: %w", err)
	}
	c := row.conversation(msgs[row.LastMessageID])
	return &c, nil
}

// listedConversation reads the user's row of a conversation, locked if
// lock; ENOTFOUND if there is none or it was deleted from the list.
func listedConversation(g *gorm.DB, userID int64, conversationID string, lock bool) (*conversationRow, error) {
	if lock {
		g = g.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var rows []conversationRow
	if err := g.Where("user_id = ? AND conversation_id = ?", userID, conversationID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: conversation: %w", err)
	}
	if len(rows) == 0 || rows[0].Hidden {
		return nil, tether.Errorf(tether.ENOTFOUND, "conversation not found")
	}
	return &rows[0], nil
}

// lastMessages reads the last messages of rows in one query, by id.
func lastMessages(g *gorm.DB, rows []conversationRow) (map[int64]*tether.Message, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.LastMessageID > 0 {
			ids = append(ids, r.LastMessageID)
		}
	}
	out := make(map[int64]*tether.Message, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var msgs []messageRow
	if err := g.Where("id IN ?", ids).Find(&msgs).Error; err != nil {
		return nil, err
	}
	for _, m := range msgs {
		msg := m.message()
		out[m.ID] = &msg
	}
	return out, nil
}

func (r conversationRow) conversation(last *tether.Message) tether.Conversation {
	c := tether.Conversation{
		ID: r.ConversationID, Type: tether.ConversationDirect, LastMessage: last,
		LastVersion: r.LastVersion, ReadVersion: r.ReadVersion, UnreadCount: max(r.UnreadCount, 0),
		Muted: r.Muted, UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.GroupID != nil {
		c.Type, c.GroupID = tether.ConversationGroup, *r.GroupID
	}
	if r.PeerID != nil {
		c.PeerID = *r.PeerID
	}
	return c
}

// conversationPeer checks a conversation id and returns the other user of a
// 1:1 conversation (0 for a group). EINVALID if it is malformed, ENOTFOUND
// for a 1:1 conversation of others.
func conversationPeer(userID int64, conversationID string) (int64, error) {
	if userID <= 0 {
		return 0, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	if _, ok := tether.ParseGroupConversationID(conversationID); ok {
		return 0, nil
	}
	lo, hi, ok := tether.ParseDirectConversationID(conversationID)
	switch {
	case !ok:
		return 0, tether.Errorf(tether.EINVALID, `malformed conversation id (want "d:{low user id}:{high user id}" or "g:{group id}")`)
	case userID == lo:
		return hi, nil
	case userID == hi:
		return lo, nil
	}
	return 0, tether.Errorf(tether.ENOTFOUND, "conversation not found")
}

// Conversation list cursors are the last row's (last message id,
// conversation id), versioned ("c" prefix) like history cursors.
func encodeConversationCursor(lastID int64, convID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c" + strconv.FormatInt(lastID, 10) + ":" + convID))
}

func decodeConversationCursor(c string) (int64, string, bool) {
	if len(c) > 128 {
		return 0, "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", false
	}
	rest, found := strings.CutPrefix(string(b), "c")
	if !found {
		return 0, "", false
	}
	n, convID, found := strings.Cut(rest, ":")
	if !found || convID == "" {
		return 0, "", false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id < 0 {
		return 0, "", false
	}
	return id, convID, true
}
