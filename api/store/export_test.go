package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/tetherim/tether"
)

// DeleteTimelineHeadsForTest simulates accounts created without a head.
func DeleteTimelineHeadsForTest(ctx context.Context, db *DB) error {
	return db.g.WithContext(ctx).Exec("DELETE FROM timeline_heads").Error
}

// MakeGroupForTest creates a group owned by owner with members as plain
// members, bypassing the group service.
func MakeGroupForTest(ctx context.Context, db *DB, owner int64, members ...int64) (int64, error) {
	at := now()
	g := groupRow{Name: "test", OwnerID: owner, MemberCount: 1 + len(members), CreatedAt: at, UpdatedAt: at}
	if err := db.g.WithContext(ctx).Create(&g).Error; err != nil {
		return 0, err
	}
	rows := []groupMemberRow{{GroupID: g.ID, UserID: owner, Role: tether.RoleOwner, JoinedAt: at}}
	for _, m := range members {
		rows = append(rows, groupMemberRow{GroupID: g.ID, UserID: m, Role: tether.RoleMember, JoinedAt: at})
	}
	return g.ID, db.g.WithContext(ctx).CreateInBatches(rows, 500).Error
}

// MuteGroupMemberForTest mutes one member until the given time.
func MuteGroupMemberForTest(ctx context.Context, db *DB, gid, uid int64, until time.Time) error {
	return db.g.WithContext(ctx).Model(&groupMemberRow{}).Where("group_id = ? AND user_id = ?", gid, uid).Update("muted_until", until).Error
}

// ConversationRowForTest is a user's conversation list entry as stored.
type ConversationRowForTest struct {
	LastMessageID, UnreadCount int64
	LastVersion, ReadVersion   uint64
	Hidden                     bool
	PeerID, GroupID            int64
}

// ConversationForTest reads a user's conversation list entry; ok is false if there is none.
func ConversationForTest(ctx context.Context, db *DB, uid int64, conv string) (r ConversationRowForTest, ok bool, err error) {
	var rows []conversationRow
	if err := db.g.WithContext(ctx).Where("user_id = ? AND conversation_id = ?", uid, conv).Find(&rows).Error; err != nil || len(rows) == 0 {
		return r, false, err
	}
	c := rows[0]
	r = ConversationRowForTest{LastMessageID: c.LastMessageID, UnreadCount: int64(c.UnreadCount), LastVersion: c.LastVersion, ReadVersion: c.ReadVersion, Hidden: c.Hidden}
	if c.PeerID != nil {
		r.PeerID = *c.PeerID
	}
	if c.GroupID != nil {
		r.GroupID = *c.GroupID
	}
	return r, true, nil
}

// HideConversationForTest deletes a conversation from a user's list.
func HideConversationForTest(ctx context.Context, db *DB, uid int64, conv string) error {
	return db.g.WithContext(ctx).Model(&conversationRow{}).Where("user_id = ? AND conversation_id = ?", uid, conv).Update("hidden", true).Error
}

// DeleteTimelineHeadForTest simulates one account created without a head.
func DeleteTimelineHeadForTest(ctx context.Context, db *DB, uid int64) error {
	return db.g.WithContext(ctx).Exec("DELETE FROM timeline_heads WHERE user_id = ?", uid).Error
}

// SQLForTest is the database's *sql.DB, for tests that change the schema
// by hand (a migration the binary does not know).
func SQLForTest(db *DB) *sql.DB { return db.sql }
