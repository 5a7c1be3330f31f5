// Every SQL statement passes the metrics dispatch point. The hooks live
// beside the store, not in shared/metrics, so that push nodes, which link
// shared/metrics, do not link gorm.

package store

import (
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/tetherim/tether/shared/metrics"
)

// sqlBudget is the time after which one SQL statement counts as slow.
const sqlBudget = 50 * time.Millisecond

// instrument makes every statement of db pass the dispatch point m, named by
// its table and operation (users.query, messages.create, ...).
func instrument(db *gorm.DB, m *metrics.Metrics) error {
	const key = "tether:metrics_start"
	before := func(tx *gorm.DB) { tx.InstanceSet(key, time.Now()) }
	after := func(op string) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			v, ok := tx.InstanceGet(key)
			if !ok {
				return
			}
			name := op
			if t := tx.Statement.Table; t != "" {
				name = t + "." + op
			}
			err := tx.Error
			switch {
			case errors.Is(err, gorm.ErrRecordNotFound):
				err = nil // an answer, not a failure
			case isDuplicate(err):
				// The store answers conflict (a taken username, a repeated
				// client id): the caller's mistake, not the database's.
				err = metrics.ClientError(err)
			}
			m.Observe(metrics.LayerSQL, name, time.Since(v.(time.Time)), err, sqlBudget, metrics.IDs(tx.Statement.Context)...)
		}
	}
	cb := db.Callback()
	for _, r := range []error{
		cb.Create().Before("gorm:create").Register("tether:before_create", before),
		cb.Create().After("gorm:create").Register("tether:after_create", after("create")),
		cb.Query().Before("gorm:query").Register("tether:before_query", before),
		cb.Query().After("gorm:query").Register("tether:after_query", after("query")),
		cb.Update().Before("gorm:update").Register("tether:before_update", before),
		cb.Update().After("gorm:update").Register("tether:after_update", after("update")),
		cb.Delete().Before("gorm:delete").Register("tether:before_delete", before),
		cb.Delete().After("gorm:delete").Register("tether:after_delete", after("delete")),
		cb.Row().Before("gorm:row").Register("tether:before_row", before),
		cb.Row().After("gorm:row").Register("tether:after_row", after("row")),
		cb.Raw().Before("gorm:raw").Register("tether:before_raw", before),
		cb.Raw().After("gorm:raw").Register("tether:after_raw", after("raw")),
	} {
		if r != nil {
			return r
		}
	}
	return nil
}
