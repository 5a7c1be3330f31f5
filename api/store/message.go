package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether/api"
)

// MessageService implements api.MessageService.
type MessageService struct {
	db       *DB
	onCommit func()
}

var _ api.MessageService = (*MessageService)(nil)

// NewMessageService returns the message service. onCommit (may be nil) is
// called after every commit that wrote outbox rows, to wake the relay.
func NewMessageService(db *DB, onCommit func()) api.MessageService {
	return &MessageService{db: db, onCommit: onCommit}
}

// directConversation is the conversation id of a 1:1 chat.
func directConversation(a, b int64) string {
	lo, hi := min(a, b), max(a, b)
	return "d:" + strconv.FormatInt(lo, 10) + ":" + strconv.FormatInt(hi, 10)
}

// entryBody is a timeline entry as pushed to clients: api.Entry without the
// version, which differs per recipient and travels beside the body.
type entryBody struct {
	Kind    string       `json:"kind"`
	Message *api.Message `json:"message"`
}

var (
	errMissingHeads = errors.New("store: timeline head missing")
	errDuplicateMsg = errors.New("store: duplicate client message id")
)

// validateNew checks a new message and returns its content compacted.
func validateNew(from api.Caller, m api.NewMessage) (json.RawMessage, error) {
	switch {
	case from.UserID <= 0:
		return nil, api.Errorf(api.EUNAUTHORIZED, "no authenticated sender")
	case m.RecipientID <= 0:
		return nil, api.Errorf(api.EINVALID, "recipient_id must be a positive user id")
	case m.RecipientID == from.UserID:
		// Notes-to-self would append one entry to one timeline twice; refuse.
		return nil, api.Errorf(api.EINVALID, "cannot send a message to yourself")
	case !printable(m.ClientMsgID, api.MaxClientMsgID):
		return nil, api.Errorf(api.EINVALID, "client_msg_id must be 1 to %d printable characters", api.MaxClientMsgID)
	case !slices.Contains(messageTypes, m.Type):
		return nil, api.Errorf(api.EINVALID, "type must be one of text, image, file, custom")
	case len(m.Content) == 0:
		return nil, api.Errorf(api.EINVALID, "content is required")
	case len(m.Content) > api.MaxContentBytes:
		return nil, api.Errorf(api.ETOOLARGE, "content is larger than %d bytes", api.MaxContentBytes)
	case !json.Valid(m.Content):
		return nil, api.Errorf(api.EINVALID, "content must be valid JSON")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, m.Content); err != nil {
		return nil, api.Errorf(api.EINVALID, "content must be valid JSON")
	}
	return buf.Bytes(), nil
}

// Send stores a 1:1 message, appends it to both timelines and queues its
// push in one transaction. A message is identified by (sender,
// ClientMsgID): a retry, even one racing the original, returns the stored
// message with created=false and does not compare contents.
func (s *MessageService) Send(ctx context.Context, from api.Caller, nm api.NewMessage) (*api.Message, bool, error) {
	content, err := validateNew(from, nm)
	if err != nil {
		return nil, false, err
	}
	if m, err := s.existing(ctx, from.UserID, nm.ClientMsgID); err != nil || m != nil {
		return m, false, err
	}
	var exists bool
	err = s.db.g.WithContext(ctx).Model(&userRow{}).Select("count(*) > 0").Where("id = ?", nm.RecipientID).Find(&exists).Error
	if err != nil {
		return nil, false, fmt.Errorf("store: send: %w", err)
	}
	if !exists {
		return nil, false, api.Errorf(api.ENOTFOUND, "recipient not found")
	}
	// A user who blocked the sender does not get the message; the sender
	// learns no more than that it is refused.
	if refused, err := blocked(s.db.g.WithContext(ctx), nm.RecipientID, from.UserID); err != nil {
		return nil, false, fmt.Errorf("store: send: %w", err)
	} else if refused {
		return nil, false, api.Errorf(api.EFORBIDDEN, "you cannot message this user")
	}
	row := messageRow{
		ConversationID: directConversation(from.UserID, nm.RecipientID),
		SenderID:       from.UserID,
		RecipientID:    nm.RecipientID,
		ClientMsgID:    nm.ClientMsgID,
		Type:           nm.Type,
		Content:        string(content),
	}
	for attempt := 0; ; attempt++ {
		err = s.db.tx(ctx, func(tx *gorm.DB) error { return s.insert(tx, &row) })
		if !errors.Is(err, errMissingHeads) || attempt > 0 {
			break
		}
		// Accounts made outside Register lack a head; create it and retry.
		if err := s.ensureHeads(ctx, from.UserID, nm.RecipientID); err != nil {
			return nil, false, err
		}
	}
	if errors.Is(err, errDuplicateMsg) {
		m, err := s.existing(ctx, from.UserID, nm.ClientMsgID)
		if err == nil && m == nil {
			err = errors.New("store: send: duplicate message vanished")
		}
		return m, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: send: %w", err)
	}
	if s.onCommit != nil {
		s.onCommit()
	}
	m := row.message()
	return &m, true, nil
}

// insert is the body of Send's transaction.
func (s *MessageService) insert(tx *gorm.DB, row *messageRow) error {
	// Lock both timeline heads first, always in ascending user id order, so
	// concurrent sends between any users cannot deadlock, and so message ids
	// within a conversation follow the participants' timeline order.
	// Each head is locked by its key alone: for "IN (...)" on a small table
	// MySQL may scan and lock every head.
	heads := make([]headRow, 0, 2)
	for _, uid := range []int64{min(row.SenderID, row.RecipientID), max(row.SenderID, row.RecipientID)} {
		var h []headRow
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("user_id = ?", uid).Limit(1).Find(&h).Error
		if err != nil {
			return err
		}
		if len(h) == 0 {
			return errMissingHeads
		}
		heads = append(heads, h[0])
	}
	row.ID = 0
	row.CreatedAt = now()
	if err := tx.Create(row).Error; err != nil {
		if isDuplicate(err) {
			return errDuplicateMsg
		}
		return err
	}
	msgID := row.ID
	targets := make([]OutboxTarget, 0, 2)
	for _, h := range heads {
		v := h.Version + 1
		if err := tx.Model(&headRow{}).Where("user_id = ?", h.UserID).Update("version", v).Error; err != nil {
			return err
		}
		if err := tx.Create(&timelineRow{UserID: h.UserID, Version: v, Kind: api.EntryMessage, MessageID: &msgID}).Error; err != nil {
			return err
		}
		targets = append(targets, OutboxTarget{UserID: h.UserID, Version: v})
	}
	m := row.message()
	body, err := json.Marshal(entryBody{Kind: api.EntryMessage, Message: &m})
	if err != nil {
		return err
	}
	payload, err := json.Marshal(OutboxPayload{Kind: api.EntryMessage, Body: body, Targets: targets})
	if err != nil {
		return err
	}
	return tx.Create(&outboxRow{CreatedAt: row.CreatedAt, Payload: string(payload)}).Error
}

// existing returns the message a sender already sent with clientMsgID, or nil.
func (s *MessageService) existing(ctx context.Context, sender int64, clientMsgID string) (*api.Message, error) {
	var rows []messageRow
	err := s.db.g.WithContext(ctx).Where("sender_id = ? AND client_msg_id = ?", sender, clientMsgID).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: send: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	m := rows[0].message()
	return &m, nil
}

func (s *MessageService) ensureHeads(ctx context.Context, uids ...int64) error {
	heads := make([]headRow, len(uids))
	for i, u := range uids {
		heads[i] = headRow{UserID: u}
	}
	err := s.db.g.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&heads).Error
	if err != nil {
		return fmt.Errorf("store: create timeline heads: %w", err)
	}
	return nil
}
