package rest

import (
	"testing"

	"github.com/tetherim/tether/api"
)

func TestLogout_RefreshAfterLogoutIsUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		u := e.signup("alice")
		r := e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken})
		if r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("logout: %d %s, want 204 and no body", r.Status, r.Body)
		}
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": u.Tokens.RefreshToken}}).
			wantProblem(t, 401, api.EUNAUTHORIZED)
		// Logging out twice is not an error.
		if r := e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken}); r.Status != 204 {
			t.Fatalf("second logout: %d %s", r.Status, r.Body)
		}
	})
}

func TestLogout_RequiresAnAccessToken(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/v1/sessions/logout"}).wantProblem(t, 401, api.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: "garbage"}).wantProblem(t, 401, api.EUNAUTHORIZED)
	})
}

func TestLogout_LeavesTheUsersOtherSessionsWorking(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		u := e.signup("alice")
		var other api.Tokens
		e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
			"username": "alice", "password": "password-alice", "device_id": "laptop", "platform": "desktop",
		}}).decode(t, 201, &other)
		e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken})
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": other.RefreshToken}}).
			decode(t, 200, nil)
	})
}
