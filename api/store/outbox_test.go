package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tetherim/tether/api/store"
)

func TestClaimOutbox_FailedHandlerKeepsRowsForTheNextClaim(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		for i := range 3 {
			f.send(t, a.ID, b.ID, fmt.Sprint(i))
		}
		boom := errors.New("redis down")
		n, err := db.ClaimOutbox(ctx, 10, func(rows []store.OutboxRow) error { return boom })
		if !errors.Is(err, boom) || n != 0 {
			t.Fatalf("claim: n=%d err=%v", n, err)
		}
		var ids []int64
		n, err = db.ClaimOutbox(ctx, 2, func(rows []store.OutboxRow) error {
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			return nil
		})
		if err != nil || n != 2 || len(ids) != 2 || ids[0] >= ids[1] {
			t.Fatalf("claim after failure: n=%d ids=%v err=%v", n, ids, err)
		}
		if left, _ := db.OutboxLen(ctx); left != 1 {
			t.Fatalf("%d rows left, want 1", left)
		}
		called := false
		if _, err := db.ClaimOutbox(ctx, 10, func([]store.OutboxRow) error { return nil }); err != nil {
			t.Fatal(err)
		}
		n, err = db.ClaimOutbox(ctx, 10, func([]store.OutboxRow) error { called = true; return nil })
		if err != nil || n != 0 || called {
			t.Fatalf("empty outbox: n=%d called=%v err=%v", n, called, err)
		}
		if _, err := db.ClaimOutbox(ctx, 0, func([]store.OutboxRow) error { return nil }); err == nil {
			t.Fatal("limit 0 must be refused")
		}
	})
}

func TestClaimOutbox_ConcurrentClaimersOnMySQLNeverShareARow(t *testing.T) {
	db := openDB(t, store.DriverMySQL)
	f, ctx := newFixture(t, db, nil), testCtx(t)
	a, b := f.user(t, "alice"), f.user(t, "bob")
	const total = 60
	for i := range total {
		f.send(t, a.ID, b.ID, fmt.Sprint(i))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n, err := db.ClaimOutbox(ctx, 7, func(rows []store.OutboxRow) error {
					mu.Lock()
					defer mu.Unlock()
					for _, r := range rows {
						seen[r.ID]++
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d distinct rows, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %d claimed %d times", id, n)
		}
	}
}

func TestDecodeOutbox_RejectsPayloadsThatCannotBePublished(t *testing.T) {
	for _, p := range []string{
		``, `{}`, `not json`,
		`{"kind":"retract","body":{},"targets":[{"user_id":1,"version":1}]}`,
		`{"kind":"message","targets":[{"user_id":1,"version":1}]}`,
		`{"kind":"message","body":{},"targets":[]}`,
		`{"kind":"message","body":{},"targets":[{"user_id":0,"version":1}]}`,
		`{"kind":"message","body":{},"targets":[{"user_id":1,"version":0}]}`,
		`{"kind":"message","body":{},"targets":[{"user_id":1,"version":1}],"message":{"id":0,"sender_id":2}}`,
		`{"kind":"read","body":{},"targets":[{"user_id":1,"version":1}],"message":{"id":1,"sender_id":2}}`,
	} {
		if _, err := store.DecodeOutbox([]byte(p)); err == nil {
			t.Errorf("payload %q accepted", p)
		}
	}
	if _, err := store.DecodeOutbox([]byte(`{"kind":"message","body":{"kind":"message"},"targets":[{"user_id":1,"version":3}]}`)); err != nil {
		t.Fatal(err)
	}
}

func TestOutbox_MessageRowCarriesItsIDsTyped(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		m := f.send(t, a.ID, b.ID, "typed")
		var got []store.OutboxPayload
		if _, err := db.ClaimOutbox(ctx, 10, func(rows []store.OutboxRow) error {
			for _, r := range rows {
				p, err := r.Decode()
				if err != nil {
					return err
				}
				got = append(got, p)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := store.OutboxMessage{ID: m.ID, SenderID: a.ID, ConversationID: m.ConversationID}
		if len(got) != 1 || got[0].Message == nil || *got[0].Message != want {
			t.Fatalf("payloads %+v; want one carrying %+v", got, want)
		}
	})
}
