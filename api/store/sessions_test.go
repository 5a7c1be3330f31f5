package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/token"
)

// fakeRevoker records what the session service tells the push side.
type fakeRevoker struct {
	mu    sync.Mutex
	calls []string // "uid/session/device/platform"
	err   error
}

func (r *fakeRevoker) Revoke(_ context.Context, uid int64, sid, device, platform string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = uid
	r.calls = append(r.calls, sid+"/"+device+"/"+platform)
	return r.err
}

func callerOf(t *testing.T, f *fixture, tok *tether.Tokens) tether.Caller {
	t.Helper()
	c, err := f.verify.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return tether.Caller{UserID: c.UserID, DeviceID: c.DeviceID, Platform: c.Platform, SessionID: c.SessionID}
}

func TestLogout_RevokesOnlyTheCallersSessionAndTellsThePushSide(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		rev := &fakeRevoker{}
		sessions := store.NewSessionService(db, rev, nil, time.Hour)
		f.user(t, "alice")
		phone, err := f.auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		laptop, err := f.auth.Login(ctx, "alice", "correct horse battery", tether.Device{ID: "laptop", Platform: "desktop"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sessions.Logout(ctx, callerOf(t, f, phone)); err != nil {
			t.Fatal(err)
		}
		_, err = f.auth.Refresh(ctx, phone.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
		if _, err := f.auth.Refresh(ctx, laptop.RefreshToken); err != nil {
			t.Fatalf("the other session's refresh: %v", err)
		}
		want := phone.SessionID + "/" + dev.ID + "/" + dev.Platform
		if len(rev.calls) != 1 || rev.calls[0] != want {
			t.Fatalf("revoker calls %v, want [%s]", rev.calls, want)
		}
		// Idempotent: a second logout succeeds and tells the push side again.
		if err := sessions.Logout(ctx, callerOf(t, f, phone)); err != nil {
			t.Fatalf("second logout: %v", err)
		}
	})
}

func TestLogout_CannotRevokeAnotherUsersSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		rev := &fakeRevoker{}
		sessions := store.NewSessionService(db, rev, nil, time.Hour)
		f.user(t, "alice")
		mallory := f.user(t, "mallory")
		tok, err := f.auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		// A caller naming alice's session id with another user id.
		err = sessions.Logout(ctx, tether.Caller{UserID: mallory.ID, SessionID: tok.SessionID, DeviceID: dev.ID, Platform: dev.Platform})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.auth.Refresh(ctx, tok.RefreshToken); err != nil {
			t.Fatalf("alice's session was revoked by another user: %v", err)
		}
		if len(rev.calls) != 0 {
			t.Fatalf("revoker called for another user's session: %v", rev.calls)
		}
	})
}

func TestLogout_RefreshTokenIsDeadEvenWhenThePushSideFails(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		sessions := store.NewSessionService(db, &fakeRevoker{err: errors.New("redis down")}, nil, time.Hour)
		f.user(t, "alice")
		tok, err := f.auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		err = sessions.Logout(ctx, callerOf(t, f, tok))
		wantCode(t, err, tether.EUNAVAILABLE) // a 503: retrying tells the push side again
		_, err = f.auth.Refresh(ctx, tok.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
	})
}

func TestChangePassword_RevokesEveryOtherSessionAndKeepsTheCurrentOne(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		rev := &fakeRevoker{}
		sessions := store.NewSessionService(db, rev, nil, time.Hour)
		f.user(t, "alice")
		bob := f.user(t, "bob")
		phone, err := f.auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		laptop, err := f.auth.Login(ctx, "alice", "correct horse battery", tether.Device{ID: "laptop", Platform: "desktop"})
		if err != nil {
			t.Fatal(err)
		}
		bobs, err := f.auth.Login(ctx, "bob", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		err = sessions.ChangePassword(ctx, callerOf(t, f, phone), "wrong password", "a brand new password")
		wantCode(t, err, tether.EFORBIDDEN)
		err = sessions.ChangePassword(ctx, callerOf(t, f, phone), "correct horse battery", "short")
		wantCode(t, err, tether.EINVALID)
		if len(rev.calls) != 0 {
			t.Fatalf("a refused change revoked sessions: %v", rev.calls)
		}

		if err := sessions.ChangePassword(ctx, callerOf(t, f, phone), "correct horse battery", "a brand new password"); err != nil {
			t.Fatal(err)
		}
		_, err = f.auth.Refresh(ctx, laptop.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
		if _, err := f.auth.Refresh(ctx, phone.RefreshToken); err != nil {
			t.Fatalf("the current session was revoked: %v", err)
		}
		if _, err := f.auth.Refresh(ctx, bobs.RefreshToken); err != nil {
			t.Fatalf("another user's session (%d) was revoked: %v", bob.ID, err)
		}
		if want := laptop.SessionID + "/laptop/desktop"; len(rev.calls) != 1 || rev.calls[0] != want {
			t.Fatalf("revoker calls %v, want [%s]", rev.calls, want)
		}
		_, err = f.auth.Login(ctx, "alice", "correct horse battery", dev)
		wantCode(t, err, tether.EUNAUTHORIZED)
		if _, err := f.auth.Login(ctx, "alice", "a brand new password", dev); err != nil {
			t.Fatalf("login with the new password: %v", err)
		}
	})
}

func TestRefreshReplay_RevokesLikeLogoutAndTellsThePushSide(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		rev := &fakeRevoker{}
		_, priv, err := token.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		auth := store.NewAuthService(db, token.NewSigner(priv, time.Minute), time.Hour, rev)
		f.user(t, "alice")
		t0, err := auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auth.Refresh(ctx, t0.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if len(rev.calls) != 0 {
			t.Fatalf("an honest refresh told the push side: %v", rev.calls)
		}
		_, err = auth.Refresh(ctx, t0.RefreshToken) // the rotated token comes back
		wantCode(t, err, tether.EUNAUTHORIZED)
		want := t0.SessionID + "/" + dev.ID + "/" + dev.Platform
		if len(rev.calls) != 1 || rev.calls[0] != want {
			t.Fatalf("revoker calls %v, want [%s]", rev.calls, want)
		}
	})
}

func TestRefreshReplay_FailsRetryablyWhenThePushSideCannotBeTold(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		rev := &fakeRevoker{err: errors.New("redis down")}
		_, priv, err := token.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		auth := store.NewAuthService(db, token.NewSigner(priv, time.Minute), time.Hour, rev)
		f.user(t, "alice")
		t0, err := auth.Login(ctx, "alice", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		t1, err := auth.Refresh(ctx, t0.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		// Not a 401: the revocation is not complete, and a retry tells the push side again.
		_, err = auth.Refresh(ctx, t0.RefreshToken)
		wantCode(t, err, tether.EUNAVAILABLE)
		rev.mu.Lock()
		rev.err = nil
		rev.mu.Unlock()
		_, err = auth.Refresh(ctx, t0.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
		if len(rev.calls) != 2 {
			t.Fatalf("revoker calls %v, want the failed one and the retry", rev.calls)
		}
		// The session is dead in the database whatever the push side said.
		_, err = auth.Refresh(ctx, t1.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
	})
}
