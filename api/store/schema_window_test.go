package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/sql/migrations"
)

// openEmpty returns an unmigrated database of driver.
func openEmpty(t *testing.T, driver string) *store.DB {
	t.Helper()
	cfg := store.Config{Driver: driver}
	switch driver {
	case store.DriverMySQL:
		cfg.DSN = testenv.MySQL(t)
	case store.DriverSQLite:
		cfg.DSN = filepath.Join(t.TempDir(), "tether.db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, cfg, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// exercise runs the chat path through the store: register, login (with an
// app version), a 1:1 send and the recipient's sync.
func exercise(t *testing.T, db *store.DB) {
	t.Helper()
	f := newFixture(t, db, nil)
	a, b := f.user(t, "alice"), f.user(t, "bob")
	if _, err := f.auth.Login(testCtx(t), "alice", "correct horse battery",
		tether.Device{ID: "phone", Platform: "ios", AppVersion: "2.1.0"}); err != nil {
		t.Fatalf("login: %v", err)
	}
	m := f.send(t, a.ID, b.ID, "c1")
	page, err := f.msgs.Sync(testCtx(t), b.ID, 0, 10)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	for _, e := range page.Entries {
		if e.Message != nil && e.Message.ID == m.ID {
			return
		}
	}
	t.Fatalf("bob's sync lacks message %d", m.ID)
}

func eachEmptyDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, driver := range []string{store.DriverMySQL, store.DriverSQLite} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, openEmpty(t, driver))
		})
	}
}

// The binary runs on the oldest schema of its window: a database migrated
// only to MinSchema passes CheckSchema and serves chat. One below, it is
// refused with a message that says what to do.
func TestSchemaWindow_StoreRunsOnItsOldestSchemaAndRefusesOlder(t *testing.T) {
	eachEmptyDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		if store.MinSchema >= migrations.Latest(db.Dialect()) {
			t.Fatalf("MinSchema %d is the newest migration: the window test proves nothing", store.MinSchema)
		}
		if err := db.MigrateTo(ctx, store.MinSchema-1); err != nil {
			t.Fatal(err)
		}
		err := db.CheckSchema(ctx)
		if !errors.Is(err, migrations.ErrSchemaMismatch) || !strings.Contains(err.Error(), "tether migrate") {
			t.Fatalf("CheckSchema below MinSchema = %v", err)
		}
		if err := db.MigrateTo(ctx, store.MinSchema); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema at MinSchema = %v", err)
		}
		exercise(t, db)
	})
}

// A binary runs on a newer schema whose newer migrations are declared
// expand-only, with its own queries: here the database has a migration
// this binary does not know, a real expansion (a nullable column on
// messages, a new table) recorded in schema_changes. A contraction for newer
// binaries, or a migration nobody declared, makes it refuse.
func TestSchemaWindow_BinaryRunsOnANewerExpandOnlySchemaAndRefusesAContraction(t *testing.T) {
	eachEmptyDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		latest := migrations.Latest(db.Dialect())
		sqlDB := store.SQLForTest(db)
		apply := func(version int64, kind string, oldest int64, ddl ...string) {
			t.Helper()
			for _, q := range ddl {
				if _, err := sqlDB.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := sqlDB.ExecContext(ctx, "INSERT INTO "+migrations.VersionTable+" (version_id, is_applied) VALUES (?, ?)", version, true); err != nil {
				t.Fatal(err)
			}
			if kind != "" {
				if _, err := sqlDB.ExecContext(ctx, "INSERT INTO schema_changes (version, kind, oldest_binary) VALUES (?, ?, ?)", version, kind, oldest); err != nil {
					t.Fatal(err)
				}
			}
		}
		apply(latest+1, migrations.KindExpand, 0,
			"ALTER TABLE messages ADD COLUMN future_flag VARCHAR(16) NULL",
			"CREATE TABLE future_things (id BIGINT NOT NULL, PRIMARY KEY (id))")
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema with a newer expand-only migration = %v", err)
		}
		exercise(t, db)

		apply(latest+2, migrations.KindContract, latest+1)
		err := db.CheckSchema(ctx)
		if !errors.Is(err, migrations.ErrSchemaMismatch) || !strings.Contains(err.Error(), "upgrade the binary") {
			t.Fatalf("CheckSchema after a contraction for newer binaries = %v", err)
		}
		if _, err := sqlDB.ExecContext(ctx, "DELETE FROM schema_changes WHERE version = ?", latest+2); err != nil {
			t.Fatal(err)
		}
		err = db.CheckSchema(ctx)
		if !errors.Is(err, migrations.ErrSchemaMismatch) || !strings.Contains(err.Error(), "not declared") {
			t.Fatalf("CheckSchema with an undeclared newer migration = %v", err)
		}
		if _, err := sqlDB.ExecContext(ctx, "INSERT INTO schema_changes (version, kind, oldest_binary) VALUES (?, ?, ?)", latest+2, migrations.KindContract, latest); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after a contraction this binary survives = %v", err)
		}
	})
}
