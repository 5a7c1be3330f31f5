package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// MessageService implements tether.MessageService.
type MessageService struct {
	db           *DB
	onCommit     func()
	recallWindow time.Duration // how long after sending a message its sender may recall it
}

var _ tether.MessageService = (*MessageService)(nil)

// DefaultRecallWindow is the recall window without WithRecallWindow.
const DefaultRecallWindow = 2 * time.Minute

// MessageOption configures a MessageService.
type MessageOption func(*MessageService)

// WithRecallWindow sets how long after sending a message its sender may
// recall it (d > 0; otherwise the default stays).
func WithRecallWindow(d time.Duration) MessageOption {
	return func(s *MessageService) {
		if d > 0 {
			s.recallWindow = d
		}
	}
}

// NewMessageService returns the message service. onCommit (may be nil) is
// called after every commit that wrote outbox rows, to wake the relay.
func NewMessageService(db *DB, onCommit func(), opts ...MessageOption) tether.MessageService {
	s := &MessageService{db: db, onCommit: onCommit, recallWindow: DefaultRecallWindow}
	for _, o := range opts {
		o(s)
	}
	return s
}

var errDuplicateMsg = errors.New("store: duplicate client message id")

// Send stores a 1:1 message, appends it to both timelines and queues its
// push in one transaction. A message is identified by (sender,
// ClientMsgID): a retry, even one racing the original, returns the stored
// message with created=false and does not compare contents.
func (s *MessageService) Send(ctx context.Context, from tether.Caller, nm tether.NewMessage) (*tether.Message, bool, error) {
	content, err := nm.Validate(from)
	if err != nil {
		return nil, false, err
	}
	if m, err := s.existing(ctx, from.UserID, nm.ClientMsgID); err != nil || m != nil {
		return m, false, err
	}
	row := messageRow{
		SenderID:    from.UserID,
		ClientMsgID: nm.ClientMsgID,
		Type:        nm.Type,
		Content:     string(content),
	}
	var insert func(tx *gorm.DB) error
	if nm.GroupID > 0 {
		row.ConversationID, row.GroupID = tether.GroupConversationID(nm.GroupID), &nm.GroupID
		insert = func(tx *gorm.DB) error { return s.insertGroup(tx, &row) }
	} else {
		if err := s.checkPeer(ctx, from.UserID, nm.RecipientID); err != nil {
			return nil, false, err
		}
		row.ConversationID, row.RecipientID = tether.DirectConversationID(from.UserID, nm.RecipientID), &nm.RecipientID
		insert = func(tx *gorm.DB) error { return s.insertDirect(tx, &row) }
	}
	err = s.db.tx(ctx, insert)
	if errors.Is(err, errDuplicateMsg) {
		m, err := s.existing(ctx, from.UserID, nm.ClientMsgID)
		if err == nil && m == nil {
			err = errors.New("store: send: duplicate message vanished")
		}
		return m, false, err
	}
	if err != nil {
		if tether.ErrorCode(err) != tether.EINTERNAL {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("store: send: %w", err)
	}
	if s.onCommit != nil {
		s.onCommit()
	}
	m := row.message()
	return &m, true, nil
}

// checkPeer refuses a 1:1 message to an unknown user or one who blocked the sender.
func (s *MessageService) checkPeer(ctx context.Context, sender, recipient int64) error {
	var exists bool
	err := s.db.g.WithContext(ctx).Model(&userRow{}).Select("count(*) > 0").Where("id = ?", recipient).Find(&exists).Error
	if err != nil {
		return fmt.Errorf("store: send: %w", err)
	}
	if !exists {
		return tether.Errorf(tether.ENOTFOUND, "recipient not found")
	}
	// A user who blocked the sender does not get the message; the sender
	// learns no more than that it is refused.
	if refused, err := blocked(s.db.g.WithContext(ctx), recipient, sender); err != nil {
		return fmt.Errorf("store: send: %w", err)
	} else if refused {
		return tether.Errorf(tether.EFORBIDDEN, "you cannot message this user")
	}
	return nil
}

// insertDirect is the body of a 1:1 Send's transaction.
func (s *MessageService) insertDirect(tx *gorm.DB, row *messageRow) error {
	return s.insertMessage(tx, row, []int64{row.SenderID, *row.RecipientID})
}

// insertGroup is the body of a group Send's transaction. The group row is
// locked first: membership changes lock it too, so a message reaches
// exactly the members of the moment it was accepted.
func (s *MessageService) insertGroup(tx *gorm.DB, row *messageRow) error {
	gid := *row.GroupID
	var groups []groupRow
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", gid).Limit(1).Find(&groups).Error
	if err != nil {
		return err
	}
	if len(groups) == 0 || groups[0].DissolvedAt != nil {
		return tether.Errorf(tether.ENOTFOUND, "group not found")
	}
	var me []groupMemberRow
	if err := tx.Where("group_id = ? AND user_id = ?", gid, row.SenderID).Limit(1).Find(&me).Error; err != nil {
		return err
	}
	if len(me) == 0 {
		// Non-members learn nothing about the group.
		return tether.Errorf(tether.ENOTFOUND, "group not found")
	}
	if err := canSpeak(groups[0], me[0], now()); err != nil {
		return err
	}
	var members []int64
	if err := tx.Model(&groupMemberRow{}).Where("group_id = ?", gid).Order("user_id").Pluck("user_id", &members).Error; err != nil {
		return err
	}
	return s.insertMessage(tx, row, members)
}

// canSpeak refuses a message from a muted member, or from a plain member
// while the whole group is muted (owner and admins may still speak).
func canSpeak(g groupRow, m groupMemberRow, at time.Time) error {
	if m.MutedUntil != nil && m.MutedUntil.After(at) {
		return tether.Errorf(tether.EFORBIDDEN, "you are muted in this group until %s", m.MutedUntil.UTC().Format(time.RFC3339))
	}
	if g.MutedAll && !tether.CanManageGroup(m.Role) {
		return tether.Errorf(tether.EFORBIDDEN, "the group is muted: only the owner and admins may speak")
	}
	return nil
}

// insertMessage stores row and appends it to the timelines and conversation
// lists of users (the sender among them), queueing its push.
func (s *MessageService) insertMessage(tx *gorm.DB, row *messageRow, users []int64) error {
	locked, err := lockTimelines(tx, users)
	if err != nil {
		return err
	}
	row.ID = 0
	row.CreatedAt = now()
	if err := tx.Create(row).Error; err != nil {
		if isDuplicate(err) {
			return errDuplicateMsg
		}
		return err
	}
	m := row.message()
	versions, err := locked.append(tx, newEntry{Kind: tether.EntryMessage, ConversationID: m.ConversationID, MessageID: &row.ID, Message: &m})
	if err != nil {
		return err
	}
	return s.db.touchConversations(tx, &m, versions)
}

// existing returns the message a sender already sent with clientMsgID, or nil.
func (s *MessageService) existing(ctx context.Context, sender int64, clientMsgID string) (*tether.Message, error) {
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
