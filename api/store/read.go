package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tetherim/tether"
)

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return tether.DefaultPageSize
	case n > tether.MaxPageSize:
		return tether.MaxPageSize
	}
	return n
}

// syncRow is a timeline entry left-joined with its message.
type syncRow struct {
	Version        uint64     `gorm:"column:version"`
	Kind           string     `gorm:"column:kind"`
	EntryConvID    *string    `gorm:"column:conversation_id"`
	Event          *string    `gorm:"column:event"`
	MessageID      *int64     `gorm:"column:m_id"`
	ConversationID *string    `gorm:"column:m_conversation_id"`
	SenderID       *int64     `gorm:"column:m_sender_id"`
	RecipientID    *int64     `gorm:"column:m_recipient_id"`
	GroupID        *int64     `gorm:"column:m_group_id"`
	ClientMsgID    *string    `gorm:"column:m_client_msg_id"`
	Type           *string    `gorm:"column:m_type"`
	Content        *string    `gorm:"column:m_content"`
	CreatedAt      *time.Time `gorm:"column:m_created_at"`
	RecalledAt     *time.Time `gorm:"column:m_recalled_at"`
}

// syncColumns selects a syncRow from "timeline AS t LEFT JOIN messages AS m".
const syncColumns = "t.version, t.kind, t.conversation_id, t.event, m.id AS m_id, m.conversation_id AS m_conversation_id, " +
	"m.sender_id AS m_sender_id, m.recipient_id AS m_recipient_id, m.group_id AS m_group_id, " +
	"m.client_msg_id AS m_client_msg_id, m.type AS m_type, m.content AS m_content, " +
	"m.created_at AS m_created_at, m.recalled_at AS m_recalled_at"

func (r syncRow) entry() tether.Entry {
	e := tether.Entry{Version: r.Version, Kind: r.Kind, Message: r.message()}
	if r.EntryConvID != nil {
		e.ConversationID = *r.EntryConvID
	}
	if r.Event != nil {
		e.Event = json.RawMessage(*r.Event)
	}
	return e
}

func (r syncRow) message() *tether.Message {
	if r.MessageID == nil || r.ConversationID == nil || r.SenderID == nil ||
		r.ClientMsgID == nil || r.Type == nil || r.Content == nil || r.CreatedAt == nil {
		return nil
	}
	m := messageRow{
		ID: *r.MessageID, ConversationID: *r.ConversationID, SenderID: *r.SenderID, RecipientID: r.RecipientID,
		GroupID: r.GroupID, ClientMsgID: *r.ClientMsgID, Type: *r.Type, Content: *r.Content, CreatedAt: *r.CreatedAt,
		RecalledAt: r.RecalledAt,
	}.message()
	return &m
}

// Sync returns the user's timeline entries with version > since, oldest
// first. Entries are read up to the head version read first, so HeadVersion,
// HasMore and the entries agree even while messages are being sent.
func (s *MessageService) Sync(ctx context.Context, userID int64, since uint64, limit int) (*tether.SyncPage, error) {
	if userID <= 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	limit = clampLimit(limit)
	g := s.db.g.WithContext(ctx)
	var heads []headRow
	if err := g.Where("user_id = ?", userID).Limit(1).Find(&heads).Error; err != nil {
		return nil, fmt.Errorf("store: sync: %w", err)
	}
	page := &tether.SyncPage{Entries: []tether.Entry{}, NextSince: since}
	if len(heads) == 1 {
		page.HeadVersion = heads[0].Version
	}
	if since >= page.HeadVersion {
		return page, nil
	}
	var rows []syncRow
	err := g.Table("timeline AS t").
		Select(syncColumns).
		Joins("LEFT JOIN messages AS m ON m.id = t.message_id").
		Where("t.user_id = ? AND t.version > ? AND t.version <= ?", userID, since, page.HeadVersion).
		Order("t.version").Limit(limit + 1).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: sync: %w", err)
	}
	if len(rows) > limit {
		rows, page.HasMore = rows[:limit], true
	}
	for _, r := range rows {
		page.Entries = append(page.Entries, r.entry())
		page.NextSince = r.Version
	}
	return page, nil
}

// History returns a page of a 1:1 conversation the user takes part in.
// Cursors are opaque: a Before page's NextCursor continues backwards (pass it
// as Before), an After page's continues forwards (pass it as After).
func (s *MessageService) History(ctx context.Context, userID int64, conversationID string, q tether.HistoryQuery) (*tether.HistoryPage, error) {
	if userID <= 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	if err := s.db.canRead(ctx, userID, conversationID); err != nil {
		return nil, err
	}
	if q.Before != "" && q.After != "" {
		return nil, tether.Errorf(tether.EINVALID, "set at most one of before and after")
	}
	limit := clampLimit(q.Limit)
	tx := s.db.g.WithContext(ctx).Where("conversation_id = ?", conversationID)
	switch {
	case q.Before != "":
		id, ok := decodeCursor(q.Before)
		if !ok {
			return nil, tether.Errorf(tether.EINVALID, "bad cursor")
		}
		tx = tx.Where("id < ?", id).Order("id DESC")
	case q.After != "":
		id, ok := decodeCursor(q.After)
		if !ok {
			return nil, tether.Errorf(tether.EINVALID, "bad cursor")
		}
		tx = tx.Where("id > ?", id).Order("id ASC")
	default:
		tx = tx.Order("id DESC")
	}
	var rows []messageRow
	if err := tx.Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	page := &tether.HistoryPage{Messages: make([]tether.Message, 0, min(len(rows), limit))}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	for _, r := range rows {
		page.Messages = append(page.Messages, r.message())
	}
	if more {
		page.NextCursor = encodeCursor(rows[len(rows)-1].ID)
	}
	return page, nil
}

// canRead refuses a malformed conversation id (EINVALID) and one the user
// takes no part in (ENOTFOUND): a 1:1 conversation of others, or a group the
// user is not a member of now.
func (db *DB) canRead(ctx context.Context, userID int64, conversationID string) error {
	if gid, ok := tether.ParseGroupConversationID(conversationID); ok {
		var n int64
		err := db.g.WithContext(ctx).Model(&groupMemberRow{}).Where("group_id = ? AND user_id = ?", gid, userID).Count(&n).Error
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if n == 0 {
			return tether.Errorf(tether.ENOTFOUND, "conversation not found")
		}
		return nil
	}
	a, b, ok := tether.ParseDirectConversationID(conversationID)
	if !ok {
		return tether.Errorf(tether.EINVALID, "malformed conversation id")
	}
	if userID != a && userID != b {
		return tether.Errorf(tether.ENOTFOUND, "conversation not found")
	}
	return nil
}

// Cursors are a message id, versioned ("m" prefix) so their format can change.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("m" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, bool) {
	if len(c) > 64 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, found := strings.CutPrefix(string(b), "m")
	if !found {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}
