package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/token"
)

var dev = tether.Device{ID: "phone-1", Platform: "ios"}

func TestRegister_LowercasesNameAndRefusesTakenName(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		u, err := f.auth.Register(ctx, "Alice.W", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "alice.w" || u.ID <= 0 || u.CreatedAt.IsZero() {
			t.Fatalf("user: %+v", u)
		}
		_, err = f.auth.Register(ctx, "ALICE.w", "another password")
		wantCode(t, err, tether.ECONFLICT)
	})
}

func TestRegister_RejectsBadInput(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		for _, c := range []struct{ name, user, pw string }{
			{"short name", "ab", "long enough pw"},
			{"long name", strings.Repeat("a", 33), "long enough pw"},
			{"space", "bad name", "long enough pw"},
			{"unicode", "bÿte", "long enough pw"},
			{"short password", "carol", "short"},
			{"long password", "carol", strings.Repeat("p", tether.MaxPasswordLen+1)},
			{"bad utf8 password", "carol", "abcdefgh\xff"},
		} {
			_, err := f.auth.Register(ctx, c.user, c.pw)
			t.Run(c.name, func(t *testing.T) { wantCode(t, err, tether.EINVALID) })
		}
	})
}

func TestLogin_UnknownUserAndWrongPasswordAreIndistinguishable(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.user(t, "bob")
		_, errWrong := f.auth.Login(ctx, "bob", "wrong password!", dev)
		_, errUnknown := f.auth.Login(ctx, "nobody", "wrong password!", dev)
		_, errInvalidName := f.auth.Login(ctx, "x", "wrong password!", dev)
		wantCode(t, errWrong, tether.EUNAUTHORIZED)
		wantCode(t, errUnknown, tether.EUNAUTHORIZED)
		wantCode(t, errInvalidName, tether.EUNAUTHORIZED)
		if errWrong.Error() != errUnknown.Error() || errWrong.Error() != errInvalidName.Error() {
			t.Fatalf("errors differ: %v / %v / %v", errWrong, errUnknown, errInvalidName)
		}
	})
}

func TestLogin_IssuesAccessTokenForTheDeviceSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		u := f.user(t, "bob")
		tok, err := f.auth.Login(ctx, "BOB", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.verify.Verify(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		want := token.Claims{UserID: u.ID, DeviceID: dev.ID, Platform: dev.Platform, SessionID: tok.SessionID, ExpiresAt: c.ExpiresAt}
		if c != want || tok.UserID != u.ID || tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.SessionID == "" {
			t.Fatalf("tokens %+v claims %+v", tok, c)
		}
	})
}

func TestLogin_RejectsBadDevice(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.user(t, "bob")
		for _, d := range []tether.Device{
			{ID: "", Platform: "ios"},
			{ID: strings.Repeat("d", tether.MaxDeviceIDLen+1), Platform: "ios"},
			{ID: "ok", Platform: "blackberry"},
			{ID: "bad\nid", Platform: "web"},
		} {
			_, err := f.auth.Login(ctx, "bob", "correct horse battery", d)
			wantCode(t, err, tether.EINVALID)
		}
	})
}

func TestRefresh_RotatesAndReuseOfRotatedTokenRevokesSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		u := f.user(t, "bob")
		t0, err := f.auth.Login(ctx, "bob", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		t1, err := f.auth.Refresh(ctx, t0.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if t1.RefreshToken == t0.RefreshToken || t1.SessionID != t0.SessionID || t1.UserID != u.ID {
			t.Fatalf("rotation: %+v -> %+v", t0, t1)
		}
		if c, err := f.verify.Verify(t1.AccessToken); err != nil || c.SessionID != t0.SessionID || c.DeviceID != dev.ID {
			t.Fatalf("refreshed access token: %+v %v", c, err)
		}
		// The rotated token comes back: the session is revoked...
		_, err = f.auth.Refresh(ctx, t0.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
		// ...so the current token stops working too.
		_, err = f.auth.Refresh(ctx, t1.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
		// Other sessions of the user are unaffected.
		other, err := f.auth.Login(ctx, "bob", "correct horse battery", tether.Device{ID: "laptop", Platform: "desktop"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.auth.Refresh(ctx, other.RefreshToken); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefresh_RejectsUnknownAndExpiredTokens(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.user(t, "bob")
		_, err := f.auth.Refresh(ctx, "not-a-token")
		wantCode(t, err, tether.EUNAUTHORIZED)
		_, err = f.auth.Refresh(ctx, "")
		wantCode(t, err, tether.EUNAUTHORIZED)

		_, priv, _ := token.GenerateKey()
		expiring := store.NewAuthService(db, token.NewSigner(priv, time.Minute), 0, nil) // refresh tokens expire at once
		tok, err := expiring.Login(ctx, "bob", "correct horse battery", dev)
		if err != nil {
			t.Fatal(err)
		}
		_, err = expiring.Refresh(ctx, tok.RefreshToken)
		wantCode(t, err, tether.EUNAUTHORIZED)
	})
}

func TestUserByName_IsCaseInsensitiveAndNotFoundOtherwise(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		u := f.user(t, "carol")
		got, err := f.auth.UserByName(ctx, "CaRoL")
		if err != nil || got.ID != u.ID {
			t.Fatalf("by name: %+v %v", got, err)
		}
		got, err = f.auth.User(ctx, u.ID)
		if err != nil || got.Username != "carol" || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("by id: %+v %v (want %+v)", got, err, u)
		}
		_, err = f.auth.UserByName(ctx, "dave")
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.auth.UserByName(ctx, "no such name!")
		wantCode(t, err, tether.ENOTFOUND)
		_, err = f.auth.User(ctx, u.ID+1000)
		wantCode(t, err, tether.ENOTFOUND)
	})
}

func TestLogin_AppVersionRidesInEveryAccessTokenOfTheSession(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.user(t, "bob")
		d := tether.Device{ID: "phone-2", Platform: "ios", AppVersion: "2.14.1"}
		tok, err := f.auth.Login(ctx, "bob", "correct horse battery", d)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := f.verify.Verify(tok.AccessToken); err != nil || c.AppVersion != "2.14.1" {
			t.Fatalf("login token: %+v, %v", c, err)
		}
		again, err := f.auth.Refresh(ctx, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := f.verify.Verify(again.AccessToken); err != nil || c.AppVersion != "2.14.1" {
			t.Fatalf("refreshed token: %+v, %v", c, err)
		}
		_, err = f.auth.Login(ctx, "bob", "correct horse battery", tether.Device{ID: "p", Platform: "ios", AppVersion: strings.Repeat("9", tether.MaxAppVersionLen+1)})
		wantCode(t, err, tether.EINVALID)
	})
}
