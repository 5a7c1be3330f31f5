package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/blockmirror"
)

func sendErr(f *fixture, t *testing.T, from, to int64, cid string) error {
	_, _, err := f.msgs.Send(testCtx(t), tether.Caller{UserID: from, DeviceID: "d1"}, tether.NewMessage{
		RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"hi"}`),
	})
	return err
}

func TestBlock_RefusesTheBlockedSenderOnlyUntilUnblocked(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		soc := store.NewSocialService(db)
		alice, bob := f.user(t, "alice"), f.user(t, "bob")
		ctx := testCtx(t)
		if err := soc.Block(ctx, alice.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if err := soc.Block(ctx, alice.ID, bob.ID); err != nil {
			t.Fatalf("blocking twice: %v", err)
		}
		wantCode(t, sendErr(f, t, bob.ID, alice.ID, "b1"), tether.EFORBIDDEN)
		// One-directional: alice can still message bob.
		f.send(t, alice.ID, bob.ID, "a1")
		if err := soc.Unblock(ctx, alice.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if err := soc.Unblock(ctx, alice.ID, bob.ID); err != nil {
			t.Fatalf("unblocking twice: %v", err)
		}
		f.send(t, bob.ID, alice.ID, "b1")
	})
}

func TestSocial_SelfIsInvalidAndUnknownUserIsNotFound(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		soc := store.NewSocialService(db)
		alice := f.user(t, "alice")
		ctx := testCtx(t)
		wantCode(t, soc.Block(ctx, alice.ID, alice.ID), tether.EINVALID)
		wantCode(t, soc.AddContact(ctx, alice.ID, alice.ID), tether.EINVALID)
		wantCode(t, soc.Block(ctx, alice.ID, 999999), tether.ENOTFOUND)
		wantCode(t, soc.AddContact(ctx, alice.ID, 999999), tether.ENOTFOUND)
	})
}

func TestContacts_PagesInOrderAndAddIsIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		soc := store.NewSocialService(db)
		alice := f.user(t, "alice")
		ctx := testCtx(t)
		var want []int64
		for i := range 5 {
			u := f.user(t, fmt.Sprintf("user%d", i))
			want = append(want, u.ID)
			for range 2 {
				if err := soc.AddContact(ctx, alice.ID, u.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		var got []int64
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := soc.Contacts(ctx, alice.ID, cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Users {
				got = append(got, u.ID)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
			if pages > 5 {
				t.Fatal("paging does not end")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("contacts %v, want %v", got, want)
		}
		if err := soc.RemoveContact(ctx, alice.ID, want[0]); err != nil {
			t.Fatal(err)
		}
		p, err := soc.Contacts(ctx, alice.ID, "", 50)
		if err != nil || len(p.Users) != 4 || p.Users[0].ID != want[1] {
			t.Fatalf("after remove: %+v %v", p, err)
		}
		_, err = soc.Contacts(ctx, alice.ID, "garbage", 50)
		wantCode(t, err, tether.EINVALID)
	})
}

// fakeMirror records what the social service tells the push side.
type fakeMirror struct {
	calls []string
	err   error
}

func (m *fakeMirror) Block(_ context.Context, blocker, blocked int64) error {
	m.calls = append(m.calls, fmt.Sprintf("+%d/%d", blocker, blocked))
	return m.err
}

func (m *fakeMirror) Unblock(_ context.Context, blocker, blocked int64) error {
	m.calls = append(m.calls, fmt.Sprintf("-%d/%d", blocker, blocked))
	return m.err
}

func TestBlock_IsMirroredForPushNodesInTheSameRequest(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		m := &fakeMirror{}
		soc := store.NewSocialService(db, store.WithBlockMirror(m))
		alice, bob := f.user(t, "alice"), f.user(t, "bob")
		if err := soc.Block(ctx, alice.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		if err := soc.Unblock(ctx, alice.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, soc.Block(ctx, alice.ID, 999999), tether.ENOTFOUND) // nothing to mirror
		want := fmt.Sprintf("[+%d/%d -%d/%d]", alice.ID, bob.ID, alice.ID, bob.ID)
		if got := fmt.Sprint(m.calls); got != want {
			t.Fatalf("mirror calls %s, want %s", got, want)
		}
		// The mirror fails: 503 to retry; the database has the block already.
		m.err = errors.New("redis down")
		wantCode(t, soc.Block(ctx, alice.ID, bob.ID), tether.EUNAVAILABLE)
		wantCode(t, sendErr(f, t, bob.ID, alice.ID, "b1"), tether.EFORBIDDEN)
		wantCode(t, soc.Unblock(ctx, alice.ID, bob.ID), tether.EUNAVAILABLE)
		m.err = nil
		if err := soc.Unblock(ctx, alice.ID, bob.ID); err != nil { // the retry
			t.Fatal(err)
		}
		if last := m.calls[len(m.calls)-1]; last != fmt.Sprintf("-%d/%d", alice.ID, bob.ID) {
			t.Fatalf("the retry did not reach the mirror: %v", m.calls)
		}
	})
}

func TestBlockPairs_PagesEveryBlockInOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		soc := store.NewSocialService(db)
		var users []int64
		for i := range 4 {
			users = append(users, f.user(t, fmt.Sprintf("user%d", i)).ID)
		}
		var want []blockmirror.Pair
		for _, a := range users {
			for _, b := range users {
				if a != b && (a+b)%2 == 1 || a == users[0] && b != a {
					if err := soc.Block(ctx, a, b); err != nil {
						t.Fatal(err)
					}
					want = append(want, blockmirror.Pair{Blocker: a, Blocked: b})
				}
			}
		}
		var got []blockmirror.Pair
		var after blockmirror.Pair
		for {
			page, err := db.BlockPairs(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pairs %v, want %v", got, want)
		}
	})
}
