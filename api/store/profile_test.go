package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func strp(s string) *string { return &s }

func TestProfile_EmptyUntilSetThenUpdatedFieldByField(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ps := store.NewProfileService(db)
		alice := f.user(t, "alice")
		ctx := testCtx(t)
		p, err := ps.Profile(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != alice.ID || p.Username != "alice" || p.DisplayName != "" || p.AvatarURL != "" || string(p.Attributes) != "{}" {
			t.Fatalf("empty profile: %+v", p)
		}
		p, err = ps.UpdateProfile(ctx, alice.ID, tether.ProfileUpdate{DisplayName: strp("Alice ✨"), Attributes: json.RawMessage(`{ "lang": "en" }`)})
		if err != nil {
			t.Fatal(err)
		}
		if p.DisplayName != "Alice ✨" || string(p.Attributes) != `{"lang":"en"}` {
			t.Fatalf("after update: %+v", p)
		}
		// Only the avatar changes; the rest is kept.
		if _, err := ps.UpdateProfile(ctx, alice.ID, tether.ProfileUpdate{AvatarURL: strp("https://cdn.example.com/a.png")}); err != nil {
			t.Fatal(err)
		}
		p, err = ps.Profile(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.DisplayName != "Alice ✨" || p.AvatarURL != "https://cdn.example.com/a.png" || string(p.Attributes) != `{"lang":"en"}` {
			t.Fatalf("after second update: %+v", p)
		}
	})
}

func TestProfile_UnknownUserIsNotFound(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		ps := store.NewProfileService(db)
		_, err := ps.Profile(testCtx(t), 999999)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = ps.UpdateProfile(testCtx(t), 999999, tether.ProfileUpdate{DisplayName: strp("x")})
		wantCode(t, err, tether.ENOTFOUND)
	})
}

func TestProfile_UpdateRejectsInputOverTheLimits(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ps := store.NewProfileService(db)
		alice := f.user(t, "alice")
		for _, c := range []struct {
			name string
			u    tether.ProfileUpdate
			code string
		}{
			{"long display name", tether.ProfileUpdate{DisplayName: strp(strings.Repeat("a", tether.MaxDisplayNameLen+1))}, tether.EINVALID},
			{"control char in display name", tether.ProfileUpdate{DisplayName: strp("a\nb")}, tether.EINVALID},
			{"ftp avatar", tether.ProfileUpdate{AvatarURL: strp("ftp://x.example/a.png")}, tether.EINVALID},
			{"relative avatar", tether.ProfileUpdate{AvatarURL: strp("/a.png")}, tether.EINVALID},
			{"long avatar", tether.ProfileUpdate{AvatarURL: strp("https://x.example/" + strings.Repeat("a", tether.MaxAvatarURLLen))}, tether.EINVALID},
			{"array attributes", tether.ProfileUpdate{Attributes: json.RawMessage(`[1]`)}, tether.EINVALID},
			{"null attributes", tether.ProfileUpdate{Attributes: json.RawMessage(`null`)}, tether.EINVALID},
			{"large attributes", tether.ProfileUpdate{Attributes: json.RawMessage(`{"a":"` + strings.Repeat("x", tether.MaxProfileAttributes) + `"}`)}, tether.ETOOLARGE},
		} {
			_, err := ps.UpdateProfile(testCtx(t), alice.ID, c.u)
			if tether.ErrorCode(err) != c.code {
				t.Errorf("%s: want %s, got %v", c.name, c.code, err)
			}
		}
		p, err := ps.Profile(testCtx(t), alice.ID)
		if err != nil || p.DisplayName != "" || p.AvatarURL != "" || string(p.Attributes) != "{}" {
			t.Fatalf("a refused update changed the profile: %+v %v", p, err)
		}
	})
}
