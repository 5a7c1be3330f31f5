package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tetherim/tether/api"
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
		p, err = ps.UpdateProfile(ctx, alice.ID, api.ProfileUpdate{DisplayName: strp("Alice ✨"), Attributes: json.RawMessage(`{ "lang": "en" }`)})
		if err != nil {
			t.Fatal(err)
		}
		if p.DisplayName != "Alice ✨" || string(p.Attributes) != `{"lang":"en"}` {
			t.Fatalf("after update: %+v", p)
		}
		// Only the avatar changes; the rest is kept.
		if _, err := ps.UpdateProfile(ctx, alice.ID, api.ProfileUpdate{AvatarURL: strp("https://cdn.example.com/a.png")}); err != nil {
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
		wantCode(t, err, api.ENOTFOUND)
		_, err = ps.UpdateProfile(testCtx(t), 999999, api.ProfileUpdate{DisplayName: strp("x")})
		wantCode(t, err, api.ENOTFOUND)
	})
}

func TestProfile_UpdateRejectsInputOverTheLimits(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ps := store.NewProfileService(db)
		alice := f.user(t, "alice")
		for _, c := range []struct {
			name string
			u    api.ProfileUpdate
			code string
		}{
			{"long display name", api.ProfileUpdate{DisplayName: strp(strings.Repeat("a", api.MaxDisplayNameLen+1))}, api.EINVALID},
			{"control char in display name", api.ProfileUpdate{DisplayName: strp("a\nb")}, api.EINVALID},
			{"ftp avatar", api.ProfileUpdate{AvatarURL: strp("ftp://x.example/a.png")}, api.EINVALID},
			{"relative avatar", api.ProfileUpdate{AvatarURL: strp("/a.png")}, api.EINVALID},
			{"long avatar", api.ProfileUpdate{AvatarURL: strp("https://x.example/" + strings.Repeat("a", api.MaxAvatarURLLen))}, api.EINVALID},
			{"array attributes", api.ProfileUpdate{Attributes: json.RawMessage(`[1]`)}, api.EINVALID},
			{"null attributes", api.ProfileUpdate{Attributes: json.RawMessage(`null`)}, api.EINVALID},
			{"large attributes", api.ProfileUpdate{Attributes: json.RawMessage(`{"a":"` + strings.Repeat("x", api.MaxProfileAttributes) + `"}`)}, api.ETOOLARGE},
		} {
			_, err := ps.UpdateProfile(testCtx(t), alice.ID, c.u)
			if api.ErrorCode(err) != c.code {
				t.Errorf("%s: want %s, got %v", c.name, c.code, err)
			}
		}
		p, err := ps.Profile(testCtx(t), alice.ID)
		if err != nil || p.DisplayName != "" || p.AvatarURL != "" || string(p.Attributes) != "{}" {
			t.Fatalf("a refused update changed the profile: %+v %v", p, err)
		}
	})
}
