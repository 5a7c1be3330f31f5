package rest

import (
	"testing"

	"github.com/tetherim/tether"
)

func TestLogout_RefreshAfterLogoutIsUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		u := e.signup("alice")
		r := e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken})
		if r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("logout: %d %s, want 204 and no body", r.Status, r.Body)
		}
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": u.Tokens.RefreshToken}}).
			wantProblem(t, 401, tether.EUNAUTHORIZED)
		// Logging out twice is not an error.
		if r := e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken}); r.Status != 204 {
			t.Fatalf("second logout: %d %s", r.Status, r.Body)
		}
	})
}

func TestLogout_RequiresAnAccessToken(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/v1/sessions/logout"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: "garbage"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestLogout_LeavesTheUsersOtherSessionsWorking(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		u := e.signup("alice")
		var other tether.Tokens
		e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
			"username": "alice", "password": "password-alice", "device_id": "laptop", "platform": "desktop",
		}}).decode(t, 201, &other)
		e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: u.Tokens.AccessToken})
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": other.RefreshToken}}).
			decode(t, 200, nil)
	})
}

type deviceList struct {
	Devices []tether.DeviceSession `json:"devices"`
}

func (e *env) loginDevice(t *testing.T, name, device, platform string) tether.Tokens {
	t.Helper()
	var tok tether.Tokens
	e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
		"username": name, "password": "password-" + name, "device_id": device, "platform": platform,
	}}).decode(t, 201, &tok)
	return tok
}

func TestDevices_ListsOnlyMyLiveSessionsAndMarksTheCurrentOne(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		alice := e.signup("alice")
		laptop := e.loginDevice(t, "alice", "laptop", "desktop")
		e.signup("bob")
		var got deviceList
		e.do(req{Method: "GET", Path: "/v1/devices", Token: laptop.AccessToken}).decode(t, 200, &got)
		if len(got.Devices) != 2 {
			t.Fatalf("devices: %+v, want alice's two sessions", got.Devices)
		}
		byID := map[string]tether.DeviceSession{}
		for _, d := range got.Devices {
			byID[d.SessionID] = d
		}
		cur, old := byID[laptop.SessionID], byID[alice.Tokens.SessionID]
		if !cur.Current || cur.DeviceID != "laptop" || cur.Platform != "desktop" || cur.CreatedAt.IsZero() || cur.LastUsedAt.IsZero() {
			t.Fatalf("current session: %+v", cur)
		}
		if old.Current || old.DeviceID != "dev-alice" || old.Platform != "web" {
			t.Fatalf("other session: %+v", old)
		}
		// A logged-out session is no longer listed.
		e.do(req{Method: "POST", Path: "/v1/sessions/logout", Token: alice.Tokens.AccessToken})
		e.do(req{Method: "GET", Path: "/v1/devices", Token: laptop.AccessToken}).decode(t, 200, &got)
		if len(got.Devices) != 1 || got.Devices[0].SessionID != laptop.SessionID {
			t.Fatalf("devices after logout: %+v", got.Devices)
		}
		e.do(req{Method: "GET", Path: "/v1/devices"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestDevices_RevokeMySessionKillsItsRefreshToken(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		alice := e.signup("alice")
		laptop := e.loginDevice(t, "alice", "laptop", "desktop")
		r := e.do(req{Method: "DELETE", Path: "/v1/devices/" + alice.Tokens.SessionID, Token: laptop.AccessToken})
		if r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": alice.Tokens.RefreshToken}}).
			wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": laptop.RefreshToken}}).
			decode(t, 200, nil)
		// Revoking it again: it is no longer one of my live sessions.
		e.do(req{Method: "DELETE", Path: "/v1/devices/" + alice.Tokens.SessionID, Token: laptop.AccessToken}).
			wantProblem(t, 404, tether.ENOTFOUND)
	})
}

func TestDevices_CannotRevokeAnotherUsersSession(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		alice := e.signup("alice")
		mallory := e.signup("mallory")
		e.do(req{Method: "DELETE", Path: "/v1/devices/" + alice.Tokens.SessionID, Token: mallory.Tokens.AccessToken}).
			wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "DELETE", Path: "/v1/devices/no-such-session", Token: mallory.Tokens.AccessToken}).
			wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "DELETE", Path: "/v1/devices/" + alice.Tokens.SessionID}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		// Alice's session still works.
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": alice.Tokens.RefreshToken}}).
			decode(t, 200, nil)
	})
}

func TestChangePassword_KeepsMySessionRevokesTheOthersAndChecksTheOldPassword(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		alice := e.signup("alice")
		laptop := e.loginDevice(t, "alice", "laptop", "desktop")
		path := "/v1/account/password"
		e.do(req{Method: "POST", Path: path, Token: alice.Tokens.AccessToken,
			Body: map[string]string{"old_password": "wrong-password", "new_password": "new-password-1"}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "POST", Path: path, Token: alice.Tokens.AccessToken,
			Body: map[string]string{"old_password": "password-alice", "new_password": "short"}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: path,
			Body: map[string]string{"old_password": "password-alice", "new_password": "new-password-1"}}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		r := e.do(req{Method: "POST", Path: path, Token: alice.Tokens.AccessToken,
			Body: map[string]string{"old_password": "password-alice", "new_password": "new-password-1"}})
		if r.Status != 204 {
			t.Fatalf("change password: %d %s", r.Status, r.Body)
		}
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": laptop.RefreshToken}}).
			wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": alice.Tokens.RefreshToken}}).
			decode(t, 200, nil)
		e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
			"username": "alice", "password": "new-password-1", "device_id": "tablet", "platform": "ios",
		}}).decode(t, 201, nil)
	})
}
