package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// Recall retracts one of the caller's messages within the recall window.
// In one transaction it erases the stored content (so neither history nor
// sync can show it again), appends an EntryRecall to the timeline of every
// participant (1:1: both; group: the current members and the sender), and
// takes the message off the unread counts of those who had not read it.
func (s *MessageService) Recall(ctx context.Context, from tether.Caller, messageID int64) (*tether.Message, error) {
	if from.UserID <= 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	}
	if messageID <= 0 {
		return nil, tether.Errorf(tether.EINVALID, "message_id must be a positive integer")
	}
	row, err := s.messageByID(s.db.g.WithContext(ctx), messageID, false)
	if err != nil {
		return nil, fmt.Errorf("store: recall: %w", err)
	}
	if row == nil {
		return nil, tether.Errorf(tether.ENOTFOUND, "message not found")
	}
	if row.SenderID != from.UserID {
		// Whoever cannot see the message learns nothing about it.
		if err := s.db.canRead(ctx, from.UserID, row.ConversationID); err != nil {
			if tether.ErrorCode(err) == tether.EINTERNAL {
				return nil, err
			}
			return nil, tether.Errorf(tether.ENOTFOUND, "message not found")
		}
		return nil, tether.Errorf(tether.EFORBIDDEN, "you can recall only your own messages")
	}
	if row.RecalledAt != nil {
		m := row.message()
		return &m, nil
	}
	if now().Sub(row.CreatedAt) > s.recallWindow {
		return nil, tether.Errorf(tether.EFORBIDDEN, "a message can be recalled only within %s of sending it", s.recallWindow)
	}
	var out tether.Message
	recalled := false
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		recalled = false
		users, err := recallAudience(tx, row)
		if err != nil {
			return err
		}
		locked, err := lockTimelines(tx, users)
		if err != nil {
			return err
		}
		// Read again under the sender's head lock: a recall racing from
		// another of the sender's devices committed first, or not at all.
		cur, err := s.messageByID(tx, messageID, true)
		if err != nil {
			return err
		}
		if cur == nil {
			return tether.Errorf(tether.ENOTFOUND, "message not found")
		}
		if cur.RecalledAt != nil {
			out = cur.message()
			return nil
		}
		at := now()
		if err := tx.Model(&messageRow{}).Where("id = ?", messageID).
			Updates(map[string]any{"recalled_at": at, "content": "{}"}).Error; err != nil {
			return err
		}
		if err := uncountUnread(tx, cur, users); err != nil {
			return err
		}
		event, err := json.Marshal(tether.RecallEvent{MessageID: cur.ID, SenderID: cur.SenderID, RecalledAt: at})
		if err != nil {
			return err
		}
		if _, err := locked.append(tx, newEntry{Kind: tether.EntryRecall, ConversationID: cur.ConversationID, Event: event}); err != nil {
			return err
		}
		cur.RecalledAt = &at
		out, recalled = cur.message(), true
		return nil
	})
	if err != nil {
		if tether.ErrorCode(err) != tether.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("store: recall: %w", err)
	}
	if recalled && s.onCommit != nil {
		s.onCommit()
	}
	return &out, nil
}

// messageByID reads a message row, nil if there is none.
func (s *MessageService) messageByID(g *gorm.DB, id int64, lock bool) (*messageRow, error) {
	if lock {
		g = g.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var rows []messageRow
	if err := g.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// recallAudience returns whose timelines get the recall of m. For a group
// the group row is locked first, as Send locks it: the recall reaches
// exactly the members of the moment it commits.
func recallAudience(tx *gorm.DB, m *messageRow) ([]int64, error) {
	if m.GroupID == nil {
		if m.RecipientID == nil {
			return nil, fmt.Errorf("message %d has neither a recipient nor a group", m.ID)
		}
		return []int64{m.SenderID, *m.RecipientID}, nil
	}
	var groups []groupRow
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", *m.GroupID).Limit(1).Find(&groups).Error
	if err != nil {
		return nil, err
	}
	var members []int64
	if err := tx.Model(&groupMemberRow{}).Where("group_id = ?", *m.GroupID).Pluck("user_id", &members).Error; err != nil {
		return nil, err
	}
	// The sender's own devices learn of the recall even after leaving.
	if !slices.Contains(members, m.SenderID) {
		members = append(members, m.SenderID)
	}
	return members, nil
}

// uncountUnread takes a recalled message off the unread count of every
// participant but its sender who has it in their timeline after their read
// version. The EXISTS scans only the unread part of each user's
// conversation (index (user_id, conversation_id, version)).
func uncountUnread(tx *gorm.DB, m *messageRow, users []int64) error {
	for chunk := range slices.Chunk(users, fanoutChunk) {
		err := tx.Exec("UPDATE conversations SET unread_count = unread_count - 1 "+
			"WHERE conversation_id = ? AND user_id IN ? AND user_id <> ? AND unread_count > 0 "+
			"AND EXISTS (SELECT 1 FROM timeline AS t WHERE t.user_id = conversations.user_id "+
			"AND t.conversation_id = conversations.conversation_id AND t.version > conversations.read_version "+
			"AND t.kind = ? AND t.message_id = ?)",
			m.ConversationID, chunk, m.SenderID, tether.EntryMessage, m.ID).Error
		if err != nil {
			return err
		}
	}
	return nil
}
