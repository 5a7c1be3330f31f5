package sql_test

import (
	"context"
	stdsql "database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // registers the "sqlite" driver
	_ "github.com/go-sql-driver/mysql"

	"github.com/tetherim/tether/internal/testenv"
	schema "github.com/tetherim/tether/sql"
)

type dialectCase struct {
	name string
	open func(t *testing.T) *stdsql.DB
}

func dialects() []dialectCase {
	return []dialectCase{
		{schema.MySQL, func(t *testing.T) *stdsql.DB {
			db, err := stdsql.Open("mysql", testenv.MySQL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{schema.SQLite, func(t *testing.T) *stdsql.DB {
			db, err := stdsql.Open("sqlite", filepath.Join(t.TempDir(), "t.db")+"?_pragma=foreign_keys(1)")
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
	if schema.Latest(schema.MySQL) < 1 || schema.Latest(schema.SQLite) < 1 {
		t.Fatalf("latest: mysql=%d sqlite=%d", schema.Latest(schema.MySQL), schema.Latest(schema.SQLite))
	}
	if schema.Latest(schema.MySQL) != schema.Latest(schema.SQLite) {
		t.Fatal("dialects must be migrated in lockstep")
	}
	if schema.Latest("postgres") != 0 {
		t.Fatal("unknown dialect must have no version")
	}
}

func TestMigrate_CreatesSchemaAndCheckAcceptsIt(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			db, c := d.open(t), ctx(t)
			if err := schema.Migrate(c, db, d.name); err != nil {
				t.Fatal(err)
			}
			if err := schema.Check(c, db, d.name); err != nil {
				t.Fatalf("check after migrate: %v", err)
			}
			// Migrating again is a no-op.
			if err := schema.Migrate(c, db, d.name); err != nil {
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
			err := schema.Check(c, db, d.name)
			if !errors.Is(err, schema.ErrSchemaMismatch) {
				t.Fatalf("check on empty database: %v", err)
			}
			var n int
			q := "SELECT COUNT(*) FROM " + schema.VersionTable
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
			if err := schema.Migrate(c, db, d.name); err != nil {
				t.Fatal(err)
			}
			future := schema.Latest(d.name) + 1
			if _, err := db.ExecContext(c, "INSERT INTO "+schema.VersionTable+" (version_id, is_applied) VALUES (?, ?)", future, true); err != nil {
				t.Fatal(err)
			}
			if err := schema.Check(c, db, d.name); !errors.Is(err, schema.ErrSchemaMismatch) {
				t.Fatalf("check on newer schema: %v", err)
			}
			if err := schema.Migrate(c, db, d.name); !errors.Is(err, schema.ErrSchemaMismatch) {
				t.Fatalf("migrate on newer schema: %v", err)
			}
		})
	}
}

func TestMigrate_RejectsUnknownDialect(t *testing.T) {
	db, err := stdsql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := schema.Migrate(context.Background(), db, "oracle"); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
	if err := schema.Check(context.Background(), db, "oracle"); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
	if err := schema.Migrate(context.Background(), nil, schema.SQLite); err == nil {
		t.Fatal("want an error for a nil database")
	}
}

func TestMigrate_ConcurrentMigrationsOnMySQLSerialize(t *testing.T) {
	dsn := testenv.MySQL(t)
	c := ctx(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			db, err := stdsql.Open("mysql", dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- schema.Migrate(c, db, schema.MySQL)
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	db, err := stdsql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := schema.Check(c, db, schema.MySQL); err != nil {
		t.Fatal(err)
	}
}
