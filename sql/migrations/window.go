package migrations

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// Expand/contract (README.md beside this file): a binary runs on every
// schema in its window, not only on the one it was built with, so an old and
// a new version of the API can serve side by side across a migration.
//
//   - The window's bottom is the binary's minimum: the migration that
//     introduced the newest thing it reads or writes (api/store.MinSchema).
//     Below it the binary refuses: run the migration first.
//   - Up to its own newest migration it runs on any version, with the
//     migrations above the database's not applied yet (a new binary rolled
//     out before its expand-only migrations were needed).
//   - Above its newest migration it runs only on migrations that the
//     database itself declares compatible (table schema_changes, from
//     migration 9): an expansion, or a contraction whose oldest_binary is
//     not newer than the binary. A binary cannot know the future; the
//     database tells it.

// Kinds of a migration in schema_changes.
const (
	KindExpand   = "expand"   // only adds: older binaries run on it
	KindContract = "contract" // removes what binaries before oldest_binary used
)

// CheckWindow returns an error unless this binary, whose oldest usable
// schema is min, can run on the database: its version is at least min, no
// older migration is missing, and every migration newer than the binary's
// is declared compatible with it. It does not write.
func CheckWindow(ctx context.Context, db *sql.DB, dialect string, min int64) error {
	if db == nil {
		return fmt.Errorf("schema: nil database")
	}
	cur, err := dbVersion(ctx, db, dialect)
	if err != nil {
		return err
	}
	latest := Latest(dialect)
	if cur < min {
		return fmt.Errorf("%w: database is at version %d, this binary needs at least %d (run `tether migrate` with this binary)", ErrSchemaMismatch, cur, min)
	}
	if cur > latest {
		if err := checkNewer(ctx, db, latest, cur); err != nil {
			return err
		}
	}
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("schema: check %s: %w", dialect, err)
	}
	for _, s := range st {
		if s.State == goose.StatePending && s.Source.Version <= cur {
			return fmt.Errorf("%w: migration %d was never applied below the database's version %d (run `tether migrate`)", ErrSchemaMismatch, s.Source.Version, cur)
		}
	}
	return nil
}

// checkNewer checks that every migration applied in (latest, cur] is
// recorded in schema_changes as compatible with a binary whose newest
// migration is latest.
func checkNewer(ctx context.Context, db *sql.DB, latest, cur int64) error {
	applied, err := queryInts(ctx, db,
		"SELECT DISTINCT version_id FROM "+VersionTable+" WHERE version_id > ? AND version_id <= ? ORDER BY version_id", latest, cur)
	if err != nil {
		return fmt.Errorf("schema: read %s: %w", VersionTable, err)
	}
	type change struct {
		kind   string
		oldest int64
	}
	declared := map[int64]change{}
	rows, err := db.QueryContext(ctx, "SELECT version, kind, oldest_binary FROM schema_changes WHERE version > ?", latest)
	if err != nil {
		return fmt.Errorf("%w: database is at version %d, newer than this binary's %d, and declares no compatibility (%v): upgrade the binary", ErrSchemaMismatch, cur, latest, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		var c change
		if err := rows.Scan(&v, &c.kind, &c.oldest); err != nil {
			return fmt.Errorf("schema: read schema_changes: %w", err)
		}
		declared[v] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("schema: read schema_changes: %w", err)
	}
	for _, v := range applied {
		c, ok := declared[v]
		switch {
		case !ok:
			return fmt.Errorf("%w: database is at version %d, newer than this binary's %d, and migration %d is not declared compatible with older binaries: upgrade the binary", ErrSchemaMismatch, cur, latest, v)
		case c.kind == KindExpand:
		case c.kind == KindContract && c.oldest <= latest:
		case c.kind == KindContract:
			return fmt.Errorf("%w: database is at version %d; migration %d contracted the schema for binaries whose newest migration is %d or later, this one's is %d: upgrade the binary", ErrSchemaMismatch, cur, v, c.oldest, latest)
		default:
			return fmt.Errorf("%w: migration %d is of unknown kind %q: upgrade the binary", ErrSchemaMismatch, v, c.kind)
		}
	}
	return nil
}

func queryInts(ctx context.Context, db *sql.DB, q string, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// MigrateTo applies the embedded migrations up to and including version,
// e.g. to bring a database to a binary's minimum in tests.
func MigrateTo(ctx context.Context, db *sql.DB, dialect string, version int64) error {
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("schema: migrate %s to %d: %w", dialect, version, err)
	}
	return nil
}
