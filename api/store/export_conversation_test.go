package store

import "context"

// StoredMessageContentForTest reads a message's content column as stored,
// bypassing the masking of recalled messages in messageRow.message.
func StoredMessageContentForTest(ctx context.Context, db *DB, id int64) (string, error) {
	var content string
	err := db.g.WithContext(ctx).Model(&messageRow{}).Select("content").Where("id = ?", id).Row().Scan(&content)
	return content, err
}
