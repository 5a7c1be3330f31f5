package store

import "context"

// MuteConversationForTest sets the muted flag of a user's conversation row.
func MuteConversationForTest(ctx context.Context, db *DB, uid int64, conv string, muted bool) error {
	return db.g.WithContext(ctx).Model(&conversationRow{}).Where("user_id = ? AND conversation_id = ?", uid, conv).Update("muted", muted).Error
}
