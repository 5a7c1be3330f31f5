package store

import (
	"context"
	"fmt"
)

// APIKeyRowsForTest returns every column of every api_keys row as text, to
// check what the database holds.
func APIKeyRowsForTest(ctx context.Context, db *DB) ([]string, error) {
	var rows []map[string]any
	if err := db.g.WithContext(ctx).Table("api_keys").Find(&rows).Error; err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		for col, v := range r {
			if b, ok := v.([]byte); ok {
				out = append(out, fmt.Sprintf("%s=%s", col, b))
			} else {
				out = append(out, fmt.Sprintf("%s=%v", col, v))
			}
		}
	}
	return out, nil
}
