package store

import "context"

// DeleteTimelineHeadsForTest simulates accounts created without a head.
func DeleteTimelineHeadsForTest(ctx context.Context, db *DB) error {
	return db.g.WithContext(ctx).Exec("DELETE FROM timeline_heads").Error
}
