package rest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tetherim/tether"
)

func TestProfile_UpdateMineAndReadItAsAnotherUser(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		var p tether.Profile
		e.do(req{Method: "GET", Path: "/v1/users/me/profile", Token: a.Tokens.AccessToken}).decode(t, 200, &p)
		if p.ID != a.ID || p.Username != "alice" || p.DisplayName != "" || string(p.Attributes) != "{}" {
			t.Fatalf("empty profile = %+v", p)
		}
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: a.Tokens.AccessToken, Body: map[string]any{
			"display_name": "Alice", "avatar_url": "https://cdn.example.com/a.png", "attributes": map[string]any{"lang": "en"},
		}}).decode(t, 200, &p)
		if p.DisplayName != "Alice" || p.AvatarURL != "https://cdn.example.com/a.png" || string(p.Attributes) != `{"lang":"en"}` {
			t.Fatalf("updated profile = %+v", p)
		}
		// Absent fields are kept.
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: a.Tokens.AccessToken, Body: map[string]any{"display_name": "Al"}}).decode(t, 200, &p)
		var seen tether.Profile
		e.do(req{Method: "GET", Path: userPath(a.ID) + "/profile", Token: b.Tokens.AccessToken}).decode(t, 200, &seen)
		if seen.ID != a.ID || seen.Username != "alice" || seen.DisplayName != "Al" || seen.AvatarURL != "https://cdn.example.com/a.png" || string(seen.Attributes) != `{"lang":"en"}` {
			t.Fatalf("bob sees %+v", seen)
		}
		// Bob's PATCH changes Bob's profile, never Alice's.
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: b.Tokens.AccessToken, Body: map[string]any{"display_name": "Bob"}}).decode(t, 200, &p)
		if p.ID != b.ID {
			t.Fatalf("bob's patch answered profile %d", p.ID)
		}
		e.do(req{Method: "GET", Path: userPath(a.ID) + "/profile", Token: b.Tokens.AccessToken}).decode(t, 200, &seen)
		if seen.DisplayName != "Al" {
			t.Fatalf("alice's display name became %q", seen.DisplayName)
		}
	})
}

func TestProfile_UnknownUserIsNotFoundAndAnonymousIsUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a := e.signup("alice")
		e.do(req{Method: "GET", Path: "/v1/users/999999/profile", Token: a.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: "/v1/users/0/profile", Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "GET", Path: "/v1/users/me/profile"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Body: map[string]any{"display_name": "x"}}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "GET", Path: userPath(a.ID) + "/profile"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestProfile_InvalidUpdatesAreClearProblems(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		tok := e.signup("alice").Tokens.AccessToken
		for _, c := range []struct {
			name   string
			body   any
			status int
			code   string
			detail string
		}{
			{"long display name", map[string]any{"display_name": strings.Repeat("a", 65)}, 400, tether.EINVALID, "display_name"},
			{"control char", map[string]any{"display_name": "a\u0007b"}, 400, tether.EINVALID, "display_name"},
			{"ftp avatar", map[string]any{"avatar_url": "ftp://x.example/a.png"}, 400, tether.EINVALID, "avatar_url"},
			{"relative avatar", map[string]any{"avatar_url": "a.png"}, 400, tether.EINVALID, "avatar_url"},
			{"long avatar", map[string]any{"avatar_url": "https://x.example/" + strings.Repeat("a", 512)}, 400, tether.EINVALID, "avatar_url"},
			{"array attributes", map[string]any{"attributes": []int{1}}, 400, tether.EINVALID, "attributes"},
			{"unknown field", map[string]any{"nickname": "x"}, 400, tether.EINVALID, "nickname"},
			{"large attributes", map[string]any{"attributes": map[string]string{"a": strings.Repeat("x", 4<<10)}}, 413, tether.ETOOLARGE, "attributes"},
		} {
			p := e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: tok, Body: c.body}).wantProblem(t, c.status, c.code)
			if !strings.Contains(p.Detail, c.detail) {
				t.Errorf("%s: detail %q does not name %s", c.name, p.Detail, c.detail)
			}
		}
	})
}

// The profile routes sit beside /v1/users/me, /v1/users/by-name/{username}
// and /v1/users/{id}; each of the six paths reaches its own handler.
func TestProfileRoutes_CoexistWithUserRoutes(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		tok := a.Tokens.AccessToken
		e.do(req{Method: "PATCH", Path: "/v1/users/me/profile", Token: b.Tokens.AccessToken, Body: map[string]any{"display_name": "Bob"}}).decode(t, 200, nil)
		var u tether.User
		e.do(req{Method: "GET", Path: "/v1/users/me", Token: tok}).decode(t, 200, &u)
		if u.ID != a.ID {
			t.Fatalf("me = %+v", u)
		}
		e.do(req{Method: "GET", Path: "/v1/users/by-name/bob", Token: tok}).decode(t, 200, &u)
		if u.ID != b.ID {
			t.Fatalf("by-name = %+v", u)
		}
		e.do(req{Method: "GET", Path: userPath(b.ID), Token: tok}).decode(t, 200, &u)
		if u.ID != b.ID {
			t.Fatalf("by id = %+v", u)
		}
		var p tether.Profile
		e.do(req{Method: "GET", Path: "/v1/users/me/profile", Token: tok}).decode(t, 200, &p)
		if p.ID != a.ID || p.DisplayName != "" {
			t.Fatalf("my profile = %+v", p)
		}
		e.do(req{Method: "GET", Path: userPath(b.ID) + "/profile", Token: tok}).decode(t, 200, &p)
		if p.ID != b.ID || p.DisplayName != "Bob" {
			t.Fatalf("bob's profile = %+v", p)
		}
		// "me" is no user id: PATCH of another user's profile is no route.
		e.do(req{Method: "PATCH", Path: userPath(b.ID) + "/profile", Token: tok, Body: map[string]any{"display_name": "x"}}).wantProblem(t, 405, "method_not_allowed")
		e.do(req{Method: "GET", Path: "/v1/users/me/profile/", Token: tok}).wantProblem(t, 404, tether.ENOTFOUND)
	})
}

// userPath is /v1/users/{id}.
func userPath(id int64) string { return "/v1/users/" + strconv.FormatInt(id, 10) }
