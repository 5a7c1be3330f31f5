// Package migrations holds Tether's database schema as versioned goose
// migrations, embedded in the binary, one directory per dialect (mysql/,
// sqlite/). Migrate brings a database up to the newest embedded
// version; Check refuses any database that is not at exactly that version, so
// a binary never runs on a schema older or newer than the one it was built for.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// Dialects understood by Migrate, Check and Latest.
const (
	MySQL  = "mysql"
	SQLite = "sqlite"
)

// VersionTable is the table goose records applied migrations in.
const VersionTable = goose.DefaultTablename

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// ErrSchemaMismatch is wrapped by Check when the database is not at the
// latest embedded version.
var ErrSchemaMismatch = errors.New("schema: database version does not match this binary")

func dialectOf(dialect string) (database.Dialect, fs.FS, error) {
	var d database.Dialect
	switch dialect {
	case MySQL:
		d = database.DialectMySQL
	case SQLite:
		d = database.DialectSQLite3
	default:
		return "", nil, fmt.Errorf("schema: unknown dialect %q (want %q or %q)", dialect, MySQL, SQLite)
	}
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return "", nil, err
	}
	return d, sub, nil
}

func newProvider(db *sql.DB, dialect string) (*goose.Provider, error) {
	if db == nil {
		return nil, errors.New("schema: nil database")
	}
	d, fsys, err := dialectOf(dialect)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithLogger(goose.NopLogger())}
	if dialect == MySQL {
		// Several API replicas may start at once; only one migrates at a time.
		opts = append(opts, goose.WithSessionLocker(mysqlLocker{}))
	}
	return goose.NewProvider(d, db, fsys, opts...)
}

// Migrate applies every embedded migration the database does not have yet.
func Migrate(ctx context.Context, db *sql.DB, dialect string) error {
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}
	cur, err := dbVersion(ctx, db, dialect)
	if err != nil {
		return err
	}
	if latest := Latest(dialect); cur > latest {
		return fmt.Errorf("%w: database is at version %d, newer than this binary's %d", ErrSchemaMismatch, cur, latest)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("schema: migrate %s: %w", dialect, err)
	}
	return nil
}

// Check returns an error unless the database is at exactly the latest
// embedded version with no migration missing. It does not write.
func Check(ctx context.Context, db *sql.DB, dialect string) error {
	if db == nil {
		return errors.New("schema: nil database")
	}
	cur, err := dbVersion(ctx, db, dialect)
	if err != nil {
		return err
	}
	latest := Latest(dialect)
	switch {
	case cur < latest:
		return fmt.Errorf("%w: database is at version %d, this binary needs %d (run the migration)", ErrSchemaMismatch, cur, latest)
	case cur > latest:
		return fmt.Errorf("%w: database is at version %d, newer than this binary's %d (upgrade the binary)", ErrSchemaMismatch, cur, latest)
	}
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("schema: check %s: %w", dialect, err)
	}
	if pending {
		return fmt.Errorf("%w: an older migration was never applied (run the migration)", ErrSchemaMismatch)
	}
	return nil
}

// dbVersion returns the highest applied version, 0 for a database goose never
// touched. It only reads, so Check stays side-effect free.
func dbVersion(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	d, _, err := dialectOf(dialect)
	if err != nil {
		return 0, err
	}
	store, err := database.NewStore(d, VersionTable)
	if err != nil {
		return 0, err
	}
	exists, err := versionTableExists(ctx, db, dialect, store)
	if err != nil {
		return 0, fmt.Errorf("schema: read version table: %w", err)
	}
	if !exists {
		return 0, nil
	}
	v, err := store.GetLatestVersion(ctx, db)
	if errors.Is(err, database.ErrVersionNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("schema: read version table: %w", err)
	}
	return v, nil
}

func versionTableExists(ctx context.Context, db *sql.DB, dialect string, store database.Store) (bool, error) {
	if ext, ok := store.(database.StoreExtender); ok {
		exists, err := ext.TableExists(ctx, db)
		if !errors.Is(err, errors.ErrUnsupported) {
			return exists, err
		}
	}
	q := "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	if dialect == SQLite {
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := db.QueryRowContext(ctx, q, VersionTable).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// Latest is the newest embedded migration version of dialect, 0 for an
// unknown dialect.
func Latest(dialect string) int64 {
	if _, _, err := dialectOf(dialect); err != nil {
		return 0
	}
	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		return 0
	}
	var latest int64
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, err := goose.NumericComponent(e.Name())
		if err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

// mysqlLocker serializes migrations across processes with a named lock, held
// by the connection goose migrates on and released when it is done.
type mysqlLocker struct{}

const mysqlLockName = "tether_schema_migrate"

func (mysqlLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	// GET_LOCK waits at most 60s; a migration that takes longer is an outage anyway.
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", mysqlLockName).Scan(&got); err != nil {
		return fmt.Errorf("schema: take migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("schema: another process holds the migration lock")
	}
	return nil
}

func (mysqlLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", mysqlLockName)
	return err
}
