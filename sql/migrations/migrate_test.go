package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // registers the "sqlite" driver
	_ "github.com/go-sql-driver/mysql"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/sql/migrations"
)

type dialectCase struct {
	name string
	open func(t *testing.T) *sql.DB
}

func dialects() []dialectCase {
	return []dialectCase{
		{migrations.MySQL, func(t *testing.T) *sql.DB {
			db, err := sql.Open("mysql", testenv.MySQL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{migrations.SQLite, func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db")+"?_pragma=foreign_keys(1)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLatest_KnowsEachDialectAndRejectsOthers(t *testing.T) {
	if migrations.Latest(migrations.MySQL) < 1 || migrations.Latest(migrations.SQLite) < 1 {
		t.Fatalf("latest: mysql=%d sqlite=%d", migrations.Latest(migrations.MySQL), migrations.Latest(migrations.SQLite))
	}
	if migrations.Latest(migrations.MySQL) != migrations.Latest(migrations.SQLite) {
		t.Fatal("dialects must be migrated in lockstep")
	}
	if migrations.Latest("postgres") != 0 {
		t.Fatal("unknown dialect must have no version")
	}
}

func TestMigrate_CreatesSchemaAndCheckAcceptsIt(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			db, c := d.open(t), ctx(t)
			if err := migrations.Migrate(c, db, d.name); err != nil {
				t.Fatal(err)
			}
			if err := migrations.Check(c, db, d.name); err != nil {
				t.Fatalf("check after migrate: %v", err)
			}
			// Migrating again is a no-op.
			if err := migrations.Migrate(c, db, d.name); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			for _, table := range []string{"users", "auth_sessions", "messages", "timeline_heads", "timeline", "outbox"} {
				var n int
				if err := db.QueryRowContext(c, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}
		})
	}
}

func TestCheck_RefusesEmptyDatabaseWithoutWriting(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			db, c := d.open(t), ctx(t)
			err := migrations.Check(c, db, d.name)
			if !errors.Is(err, migrations.ErrSchemaMismatch) {
				t.Fatalf("check on empty database: %v", err)
			}
			var n int
			q := "SELECT COUNT(*) FROM " + migrations.VersionTable
			if err := db.QueryRowContext(c, q).Scan(&n); err == nil {
				t.Fatal("check created the version table")
			}
		})
	}
}

func TestCheck_RefusesNewerSchemaAndMigrateDoesNotTouchIt(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			db, c := d.open(t), ctx(t)
			if err := migrations.Migrate(c, db, d.name); err != nil {
				t.Fatal(err)
			}
			future := migrations.Latest(d.name) + 1
			if _, err := db.ExecContext(c, "INSERT INTO "+migrations.VersionTable+" (version_id, is_applied) VALUES (?, ?)", future, true); err != nil {
				t.Fatal(err)
			}
			if err := migrations.Check(c, db, d.name); !errors.Is(err, migrations.ErrSchemaMismatch) {
				t.Fatalf("check on newer schema: %v", err)
			}
			if err := migrations.Migrate(c, db, d.name); !errors.Is(err, migrations.ErrSchemaMismatch) {
				t.Fatalf("migrate on newer schema: %v", err)
			}
		})
	}
}

func TestMigrate_RejectsUnknownDialect(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Migrate(context.Background(), db, "oracle"); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
	if err := migrations.Check(context.Background(), db, "oracle"); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
	if err := migrations.Migrate(context.Background(), nil, migrations.SQLite); err == nil {
		t.Fatal("want an error for a nil database")
	}
}

func TestMigrate_ConcurrentMigrationsOnMySQLSerialize(t *testing.T) {
	dsn := testenv.MySQL(t)
	c := ctx(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			db, err := sql.Open("mysql", dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- migrations.Migrate(c, db, migrations.MySQL)
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Check(c, db, migrations.MySQL); err != nil {
		t.Fatal(err)
	}
}
