package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/token"
)

// openDB returns a migrated database of the given driver, closed at the end of the test.
func openDB(t *testing.T, driver string) *store.DB {
	t.Helper()
	db := openEmpty(t, driver)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// eachDB runs fn against a fresh MariaDB database and a fresh SQLite file, in parallel.
func eachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, driver := range []string{store.DriverMySQL, store.DriverSQLite} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, openDB(t, driver))
		})
	}
}

// testCtx bounds a store test so a hang fails it. It is generous: the
// 2,000-member group tests take 90 s under the race detector on a loaded
// 2-core machine, and a context that expires mid-transaction fails them
// with "transaction has already been committed or rolled back".
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type fixture struct {
	db     *store.DB
	auth   tether.AuthService
	msgs   tether.MessageService
	verify *token.Verifier
}

func newFixture(t *testing.T, db *store.DB, onCommit func()) *fixture {
	t.Helper()
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		db:     db,
		auth:   store.NewAuthService(db, token.NewSigner(priv, time.Minute), time.Hour, nil),
		msgs:   store.NewMessageService(db, onCommit),
		verify: token.NewVerifier(pub),
	}
}

func (f *fixture) user(t *testing.T, name string) *tether.User {
	t.Helper()
	u, err := f.auth.Register(testCtx(t), name, "correct horse battery")
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return u
}

func (f *fixture) send(t *testing.T, from, to int64, cid string) *tether.Message {
	t.Helper()
	m, created, err := f.msgs.Send(testCtx(t), tether.Caller{UserID: from, DeviceID: "d1"}, tether.NewMessage{
		RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(fmt.Sprintf(`{"text":%q}`, cid)),
	})
	if err != nil {
		t.Fatalf("send %s: %v", cid, err)
	}
	if !created {
		t.Fatalf("send %s: not created", cid)
	}
	return m
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got nil", code)
	}
	var e *tether.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("want error %s, got %v", code, err)
	}
}
