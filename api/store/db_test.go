package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/api/store"
)

func TestOpen_RejectsUnknownDriverAndBadDSN(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []store.Config{
		{Driver: "postgres", DSN: "x"},
		{Driver: store.DriverMySQL, DSN: "not a dsn"},
		{Driver: store.DriverSQLite, DSN: ""},
	} {
		if db, err := store.Open(ctx, cfg, nil); err == nil {
			db.Close()
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestOpen_InMemorySQLiteIsOneDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, DSN: ":memory:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err == nil {
		t.Fatal("unmigrated schema accepted")
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, db, nil)
	a, b := f.user(t, "alice"), f.user(t, "bob")
	f.send(t, a.ID, b.ID, "c1")
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
