package store

import (
	"context"
	"fmt"
)

// CreateUsersForTest inserts n accounts named prefix0..prefix{n-1} with an
// unusable password hash and returns their ids: large groups need thousands
// of users, and Register spends tens of milliseconds hashing each password.
func CreateUsersForTest(ctx context.Context, db *DB, prefix string, n int) ([]int64, error) {
	at := now()
	rows := make([]userRow, n)
	for i := range rows {
		rows[i] = userRow{Username: fmt.Sprintf("%s%d", prefix, i), PasswordHash: "!", CreatedAt: at}
	}
	if err := db.g.WithContext(ctx).CreateInBatches(rows, 500).Error; err != nil {
		return nil, err
	}
	heads := make([]headRow, n)
	ids := make([]int64, n)
	for i, r := range rows {
		ids[i], heads[i] = r.ID, headRow{UserID: r.ID}
	}
	return ids, db.g.WithContext(ctx).CreateInBatches(heads, 500).Error
}

// GroupMemberCountForTest returns the stored member_count and the number of member rows.
func GroupMemberCountForTest(ctx context.Context, db *DB, gid int64) (stored, rows int64, err error) {
	var counts []int64
	if err := db.g.WithContext(ctx).Model(&groupRow{}).Where("id = ?", gid).Pluck("member_count", &counts).Error; err != nil || len(counts) == 0 {
		return 0, 0, err
	}
	err = db.g.WithContext(ctx).Model(&groupMemberRow{}).Where("group_id = ?", gid).Count(&rows).Error
	return counts[0], rows, err
}
