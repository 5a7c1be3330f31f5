package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/token"
)

func TestAccounts_RegisterLoginRefreshMe(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		var u tether.User
		e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]string{"username": "alice", "password": "correct horse"}}).
			decode(t, 201, &u)
		if u.ID <= 0 || u.Username != "alice" || u.CreatedAt.IsZero() {
			t.Fatalf("user = %+v", u)
		}
		var tok tether.Tokens
		e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
			"username": "alice", "password": "correct horse", "device_id": "phone-1", "platform": "ios",
		}}).decode(t, 201, &tok)
		if tok.UserID != u.ID || tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("tokens = %+v", tok)
		}

		var me tether.User
		e.do(req{Method: "GET", Path: "/v1/users/me", Token: tok.AccessToken}).decode(t, 200, &me)
		if me != u {
			t.Fatalf("me = %+v, want %+v", me, u)
		}

		var next tether.Tokens
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": tok.RefreshToken}}).
			decode(t, 200, &next)
		if next.RefreshToken == tok.RefreshToken || next.SessionID != tok.SessionID {
			t.Fatalf("refresh did not rotate within the session: %+v -> %+v", tok, next)
		}
		e.do(req{Method: "GET", Path: "/v1/users/me", Token: next.AccessToken}).decode(t, 200, &me)
	})
}

func TestRefresh_RotatedTokenIsUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		u := e.signup("alice")
		body := map[string]string{"refresh_token": u.Tokens.RefreshToken}
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: body}).decode(t, 200, nil)
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: body}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": "garbage"}}).
			wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestRegister_TakenUsernameIsConflict(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		e.signup("alice")
		e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]string{"username": "Alice", "password": "another pw"}}).
			wantProblem(t, 409, tether.ECONFLICT)
	})
}

func TestLogin_WrongPasswordAndUnknownUserAreUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		e.signup("alice")
		for _, b := range []map[string]string{
			{"username": "alice", "password": "wrong password", "device_id": "d", "platform": "web"},
			{"username": "nobody", "password": "wrong password", "device_id": "d", "platform": "web"},
		} {
			e.do(req{Method: "POST", Path: "/v1/sessions", Body: b}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		}
	})
}

func TestUserByName_FindsUserOrNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		var got tether.User
		e.do(req{Method: "GET", Path: "/v1/users/by-name/bob", Token: a.Tokens.AccessToken}).decode(t, 200, &got)
		if got != b.User {
			t.Fatalf("by-name = %+v, want %+v", got, b.User)
		}
		e.do(req{Method: "GET", Path: "/v1/users/by-name/carol", Token: a.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: "/v1/users/by-name/bob"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestUser_FindsUserByIDOrNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		var got tether.User
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/users/%d", b.ID), Token: a.Tokens.AccessToken}).decode(t, 200, &got)
		if got != b.User {
			t.Fatalf("user = %+v, want %+v", got, b.User)
		}
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/users/%d", b.ID+1000), Token: a.Tokens.AccessToken}).
			wantProblem(t, 404, tether.ENOTFOUND)
	})
}

// The :id route must not shadow the static routes beside it: me and
// by-name keep answering, and an id route never sees their paths.
func TestUser_IDRouteDoesNotShadowMeOrByName(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		tok := a.Tokens.AccessToken
		var got tether.User
		e.do(req{Method: "GET", Path: "/v1/users/me", Token: tok}).decode(t, 200, &got)
		if got != a.User {
			t.Fatalf("me = %+v, want %+v", got, a.User)
		}
		e.do(req{Method: "GET", Path: "/v1/users/by-name/bob", Token: tok}).decode(t, 200, &got)
		if got != b.User {
			t.Fatalf("by-name = %+v, want %+v", got, b.User)
		}
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/users/%d", a.ID), Token: tok}).decode(t, 200, &got)
		if got != a.User {
			t.Fatalf("own id = %+v, want %+v", got, a.User)
		}
	})
}

func TestUser_BadIDIsInvalid(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		tok := e.signup("alice").Tokens.AccessToken
		for _, id := range []string{"abc", "0", "-1", "1.5", "1e3", "99999999999999999999", "by-name", "%20"} {
			t.Run(id, func(t *testing.T) {
				p := e.withT(t).do(req{Method: "GET", Path: "/v1/users/" + id, Token: tok}).wantProblem(t, 400, tether.EINVALID)
				if !strings.Contains(p.Detail, `"id"`) {
					t.Fatalf("detail does not name the parameter: %q", p.Detail)
				}
			})
		}
	})
}

func TestUser_AnonymousIsUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		b := e.signup("bob")
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/users/%d", b.ID)}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		// Authentication comes before validation: a bad id says nothing either.
		e.do(req{Method: "GET", Path: "/v1/users/abc"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestSend_RetryCreatesNoSecondMessage(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		first, status := e.send(a, b.ID, "c-1", "hi")
		if status != 201 || first.SenderID != a.ID || first.RecipientID != b.ID || first.ConversationID != fmt.Sprintf("d:%d:%d", a.ID, b.ID) {
			t.Fatalf("first send: %d %+v", status, first)
		}
		if string(first.Content) != `{"text":"hi"}` {
			t.Fatalf("content = %s", first.Content)
		}
		again, status := e.send(a, b.ID, "c-1", "hi")
		if status != 200 || again.ID != first.ID {
			t.Fatalf("retry: status %d id %d, want 200 and id %d", status, again.ID, first.ID)
		}
		for _, u := range []user{a, b} {
			var page tether.SyncPage
			e.do(req{Method: "GET", Path: "/v1/sync?since=0", Token: u.Tokens.AccessToken}).decode(t, 200, &page)
			if len(page.Entries) != 1 || page.Entries[0].Message == nil || page.Entries[0].Message.ID != first.ID || page.HeadVersion != page.Entries[0].Version {
				t.Fatalf("%s sync after retry = %+v", u.Username, page)
			}
		}
	})
}

// Concurrent retries of one send (a client resending on a flaky network)
// store one message: exactly one 201, the others 200 with the same id.
func TestSend_ConcurrentRetriesCreateOneMessage(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		r := req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken, Body: map[string]any{
			"recipient_id": b.ID, "client_msg_id": "same", "type": "text", "content": map[string]string{"text": "hi"},
		}}
		const n = 8
		outs := make([]resp, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { outs[i], errs[i] = e.serve(r) })
		}
		wg.Wait()
		created, ids := 0, map[int64]bool{}
		for i, out := range outs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if err := e.checkResponse(r, out); err != nil {
				t.Fatalf("response %d: %v: %s", i, err, out.Body)
			}
			var m tether.Message
			out.decode(t, out.Status, &m)
			if out.Status == 201 {
				created++
			}
			ids[m.ID] = true
		}
		if created != 1 || len(ids) != 1 {
			t.Fatalf("%d created, ids %v; want 1 created and one id", created, ids)
		}
		var page tether.SyncPage
		e.do(req{Method: "GET", Path: "/v1/sync", Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Entries) != 1 {
			t.Fatalf("recipient timeline has %d entries, want 1", len(page.Entries))
		}
	})
}

func TestSync_PagesThroughTimelineGapFree(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		const n = 7
		for i := range n {
			from, to := a, b
			if i%2 == 1 {
				from, to = b, a
			}
			e.send(from, to.ID, fmt.Sprintf("m-%d", i), fmt.Sprint(i))
		}
		var versions []uint64
		since := uint64(0)
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("sync does not terminate")
			}
			var page tether.SyncPage
			e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/sync?since=%d&limit=3", since), Token: b.Tokens.AccessToken}).
				decode(t, 200, &page)
			if len(page.Entries) > 3 {
				t.Fatalf("page of %d entries with limit 3", len(page.Entries))
			}
			for _, en := range page.Entries {
				versions = append(versions, en.Version)
			}
			since = page.NextSince
			if !page.HasMore {
				break
			}
		}
		if len(versions) != n {
			t.Fatalf("versions = %v, want %d", versions, n)
		}
		for i := 1; i < len(versions); i++ {
			if versions[i] != versions[i-1]+1 {
				t.Fatalf("versions not gap-free: %v", versions)
			}
		}
		var empty tether.SyncPage
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/sync?since=%d", since), Token: b.Tokens.AccessToken}).decode(t, 200, &empty)
		if len(empty.Entries) != 0 || empty.HasMore || empty.HeadVersion != versions[n-1] {
			t.Fatalf("sync at head = %+v", empty)
		}
	})
}

func TestHistory_PagesBackwardsAndForwards(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		var ids []int64
		for i := range 5 {
			m, _ := e.send(a, b.ID, fmt.Sprintf("h-%d", i), fmt.Sprint(i))
			ids = append(ids, m.ID)
		}
		conv := url.PathEscape(fmt.Sprintf("d:%d:%d", a.ID, b.ID))
		var newest tether.HistoryPage
		e.do(req{Method: "GET", Path: "/v1/conversations/" + conv + "/messages?limit=3", Token: b.Tokens.AccessToken}).
			decode(t, 200, &newest)
		if len(newest.Messages) != 3 || newest.Messages[0].ID != ids[4] || newest.Messages[2].ID != ids[2] || newest.NextCursor == "" {
			t.Fatalf("newest page = %+v", newest)
		}
		var older tether.HistoryPage
		e.do(req{Method: "GET", Path: "/v1/conversations/" + conv + "/messages?limit=3&before=" + url.QueryEscape(newest.NextCursor),
			Token: b.Tokens.AccessToken}).decode(t, 200, &older)
		if len(older.Messages) != 2 || older.Messages[0].ID != ids[1] || older.Messages[1].ID != ids[0] || older.NextCursor != "" {
			t.Fatalf("older page = %+v", older)
		}
		var newer tether.HistoryPage
		e.do(req{Method: "GET", Path: "/v1/conversations/" + conv + "/messages?after=" + url.QueryEscape(newest.NextCursor),
			Token: a.Tokens.AccessToken}).decode(t, 200, &newer)
		if len(newer.Messages) != 2 || newer.Messages[0].ID != ids[3] || newer.Messages[1].ID != ids[4] || newer.NextCursor != "" {
			t.Fatalf("newer page = %+v", newer)
		}
	})
}

func TestHistory_ForeignConversationIsNotFound(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b, c := e.signup("alice"), e.signup("bob"), e.signup("carol")
		e.send(a, b.ID, "x", "secret")
		conv := url.PathEscape(fmt.Sprintf("d:%d:%d", a.ID, b.ID))
		e.do(req{Method: "GET", Path: "/v1/conversations/" + conv + "/messages", Token: c.Tokens.AccessToken}).
			wantProblem(t, 404, tether.ENOTFOUND)
	})
}

func TestHistory_BadCursorIsInvalid(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		conv := url.PathEscape(fmt.Sprintf("d:%d:%d", a.ID, b.ID))
		base := "/v1/conversations/" + conv + "/messages?"
		for _, q := range []string{"before=%21%21not-a-cursor", "after=zzz", "before=a&after=b", "limit=0", "limit=9999"} {
			e.do(req{Method: "GET", Path: base + q, Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		}
		e.do(req{Method: "GET", Path: "/v1/conversations/garbage/messages", Token: a.Tokens.AccessToken}).
			wantProblem(t, 400, tether.EINVALID)
	})
}

// Every error path answers its status and problem code, never a 500.
func TestErrors_AreProblemsWithTheRightStatus(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a := e.signup("alice")
		tok := a.Tokens.AccessToken
		pub := token.NewSigner(e.priv, -time.Hour)
		expired, _, err := pub.Sign(token.Claims{UserID: a.ID, DeviceID: "d", Platform: "web", SessionID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		_, otherKey, _ := token.GenerateKey()
		forged, _, _ := token.NewSigner(otherKey, time.Hour).Sign(token.Claims{UserID: a.ID, DeviceID: "d"})
		big := `{"username":"` + strings.Repeat("a", MaxBodyBytes) + `","password":"whatever1"}`
		send := func(over map[string]any) map[string]any {
			m := map[string]any{"recipient_id": a.ID + 1000, "client_msg_id": "c", "type": "text", "content": map[string]string{"text": "x"}}
			for k, v := range over {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = v
				}
			}
			return m
		}
		for _, tc := range []struct {
			name   string
			r      req
			status int
			code   string
		}{
			{"malformed JSON", req{Method: "POST", Path: "/v1/accounts", Body: `{"username":`}, 400, tether.EINVALID},
			{"not an object", req{Method: "POST", Path: "/v1/accounts", Body: `[1,2]`}, 400, tether.EINVALID},
			{"empty body", req{Method: "POST", Path: "/v1/accounts", Body: ``}, 400, tether.EINVALID},
			{"unknown field", req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": "bob1", "password": "password1", "admin": true}}, 400, tether.EINVALID},
			{"wrong field type", req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": 12345, "password": "password1"}}, 400, tether.EINVALID},
			{"short password", req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": "bob1", "password": "short"}}, 400, tether.EINVALID},
			{"bad username", req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": "b o b", "password": "password1"}}, 400, tether.EINVALID},
			{"wrong content type", req{Method: "POST", Path: "/v1/accounts", Body: `{"username":"bob1","password":"password1"}`, Header: map[string]string{"Content-Type": "text/plain"}}, 400, tether.EINVALID},
			{"oversized body", req{Method: "POST", Path: "/v1/accounts", Body: big}, 413, tether.ETOOLARGE},
			{"oversized body without length", req{Method: "POST", Path: "/v1/accounts", Body: io.MultiReader(strings.NewReader(big))}, 413, tether.ETOOLARGE},
			{"bad platform", req{Method: "POST", Path: "/v1/sessions", Body: map[string]any{"username": "alice", "password": "password-alice", "device_id": "d", "platform": "toaster"}}, 400, tether.EINVALID},
			{"missing token", req{Method: "GET", Path: "/v1/users/me"}, 401, tether.EUNAUTHORIZED},
			{"garbage token", req{Method: "GET", Path: "/v1/users/me", Token: "garbage"}, 401, tether.EUNAUTHORIZED},
			{"expired token", req{Method: "GET", Path: "/v1/users/me", Token: expired}, 401, tether.EUNAUTHORIZED},
			{"forged token", req{Method: "GET", Path: "/v1/users/me", Token: forged}, 401, tether.EUNAUTHORIZED},
			{"basic auth", req{Method: "GET", Path: "/v1/sync", Header: map[string]string{"Authorization": "Basic YTpi"}}, 401, tether.EUNAUTHORIZED},
			{"unauthenticated send with bad body", req{Method: "POST", Path: "/v1/messages", Body: `{`}, 401, tether.EUNAUTHORIZED},
			{"unknown recipient", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(nil)}, 404, tether.ENOTFOUND},
			{"message to self", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(map[string]any{"recipient_id": a.ID})}, 400, tether.EINVALID},
			{"bad message type", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(map[string]any{"type": "video"})}, 400, tether.EINVALID},
			{"null content", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: `{"recipient_id":2,"client_msg_id":"c","type":"text","content":null}`}, 400, tether.EINVALID},
			{"missing content", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(map[string]any{"content": nil})}, 400, tether.EINVALID},
			{"string recipient", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(map[string]any{"recipient_id": "2"})}, 400, tether.EINVALID},
			{"content over limit", req{Method: "POST", Path: "/v1/messages", Token: tok, Body: send(map[string]any{"content": map[string]string{"text": strings.Repeat("x", tether.MaxContentBytes)}})}, 413, tether.ETOOLARGE},
			{"negative since", req{Method: "GET", Path: "/v1/sync?since=-1", Token: tok}, 400, tether.EINVALID},
			{"text since", req{Method: "GET", Path: "/v1/sync?since=abc", Token: tok}, 400, tether.EINVALID},
			{"unknown route", req{Method: "GET", Path: "/v1/nope"}, 404, tether.ENOTFOUND},
			{"trailing slash", req{Method: "GET", Path: "/v1/users/me/", Token: tok}, 404, tether.ENOTFOUND},
			{"wrong method", req{Method: "DELETE", Path: "/v1/messages", Token: tok}, 405, problem.CodeMethodNotAllowed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.withT(t).do(tc.r)
				p := r.wantProblem(t, tc.status, tc.code)
				t.Logf("%d %s: %s", p.Status, p.Code, p.Detail)
				if p.Detail == "" {
					t.Fatalf("problem without detail: %+v", p)
				}
				if strings.Contains(p.Detail, "password-alice") {
					t.Fatalf("detail leaks the password: %q", p.Detail)
				}
			})
		}
	})
}

func TestMethodNotAllowed_ListsAllowedMethods(t *testing.T) {
	e := newEnv(t, drivers[1])
	r := e.do(req{Method: "PUT", Path: "/v1/accounts"})
	r.wantProblem(t, 405, problem.CodeMethodNotAllowed)
	if got := r.Header.Get("Allow"); got != "POST" {
		t.Fatalf("Allow = %q", got)
	}
}

func TestValidation_DetailNamesTheField(t *testing.T) {
	e := newEnv(t, drivers[1])
	p := e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": "ab", "password": "password1"}}).
		wantProblem(t, 400, tether.EINVALID)
	if !strings.Contains(p.Detail, "/username") {
		t.Fatalf("detail %q does not name the field", p.Detail)
	}
	p = e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"username": "abc", "password": "password1", "extra": 1}}).
		wantProblem(t, 400, tether.EINVALID)
	if !strings.Contains(p.Detail, "extra") {
		t.Fatalf("detail %q does not name the unknown field", p.Detail)
	}
}

func TestMeta_HealthReadyAndSpec(t *testing.T) {
	e := newEnv(t, drivers[1])
	var st map[string]string
	e.do(req{Method: "GET", Path: "/healthz"}).decode(t, 200, &st)
	if st["status"] != "ok" {
		t.Fatalf("healthz = %v", st)
	}
	e.do(req{Method: "GET", Path: "/readyz"}).decode(t, 200, &st)

	e.ready = errors.New("dial tcp 10.1.2.3:3306: connection refused")
	p := e.do(req{Method: "GET", Path: "/readyz"}).wantProblem(t, 503, tether.EUNAVAILABLE)
	if strings.Contains(p.Detail, "10.1.2.3") {
		t.Fatalf("readyz leaks the cause: %q", p.Detail)
	}

	r := e.do(req{Method: "GET", Path: "/openapi.yaml"})
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/yaml" || string(r.Body) != string(tether.OpenAPI) {
		t.Fatalf("openapi.yaml: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
}

// Every request passes the metrics dispatch point under its route; 5xx
// answers count as server errors, 4xx answers as client errors.
func TestMetrics_CountRoutesAndServerErrorsApartFromClientErrors(t *testing.T) {
	e := newEnv(t, drivers[1])
	a := e.signup("alice")
	e.do(req{Method: "GET", Path: "/v1/users/me", Token: a.Tokens.AccessToken})
	e.do(req{Method: "GET", Path: "/v1/users/me"})
	e.do(req{Method: "GET", Path: "/nowhere"})
	e.ready = errors.New("down")
	e.do(req{Method: "GET", Path: "/readyz"})

	calls, errs, clientErrs := e.counts()
	for name, want := range map[string]float64{"/v1/users/me": 2, "unmatched": 1, "/readyz": 1, "/v1/accounts": 1, "/v1/sessions": 1} {
		if calls[name] != want {
			t.Errorf("calls[%s] = %v, want %v (all: %v)", name, calls[name], want, calls)
		}
	}
	if errs["/readyz"] != 1 || errs["/v1/users/me"] != 0 || errs["unmatched"] != 0 {
		t.Errorf("server errors = %v, want only /readyz", errs)
	}
	if clientErrs["/v1/users/me"] != 1 || clientErrs["unmatched"] != 1 || clientErrs["/readyz"] != 0 {
		t.Errorf("client errors = %v, want the 401 and the 404", clientErrs)
	}
}

// counts returns the http layer's call, server error and client error
// counters by route.
func (e *env) counts() (calls, errs, clientErrs map[string]float64) {
	e.t.Helper()
	mfs, err := e.metrics.Gatherer().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	calls, errs, clientErrs = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, mf := range mfs {
		if n := mf.GetName(); n != "tether_calls_total" && n != "tether_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			into := calls
			switch {
			case mf.GetName() == "tether_calls_total":
			case labels["class"] == metrics.ClassClient:
				into = clientErrs
			default:
				into = errs
			}
			if labels["layer"] == "http" {
				into[labels["name"]] += m.GetCounter().GetValue()
			}
		}
	}
	return calls, errs, clientErrs
}

// Requests are logged one line each, without passwords, tokens or bodies.
func TestLog_OneLinePerRequestWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	e := newEnvLog(t, drivers[1], slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, b := e.signup("alice"), e.signup("bob")
	e.send(a, b.ID, "c-secret", "the secret body")
	e.do(req{Method: "POST", Path: "/v1/sessions/refresh", Body: map[string]string{"refresh_token": a.Tokens.RefreshToken}})

	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d log lines for 6 requests:\n%s", len(lines), buf.String())
	}
	for _, secret := range []string{"password-alice", a.Tokens.AccessToken, a.Tokens.RefreshToken, "the secret body"} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("log contains %q:\n%s", secret, buf.String())
		}
	}
	var line struct {
		Msg, Method, Route string
		Status             int
	}
	if err := json.Unmarshal([]byte(lines[4]), &line); err != nil || line.Route != "/v1/messages" || line.Status != 201 {
		t.Fatalf("send log line = %+v (%v): %s", line, err, lines[4])
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The response check is not vacuous: it rejects undeclared statuses, extra
// or missing fields, wrong content types and malformed problems.
func TestResponseCheck_RejectsResponsesOffSpec(t *testing.T) {
	e := newEnv(t, drivers[1])
	jsonHdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	probHdr := http.Header{"Content-Type": {problem.ContentType}}
	me := req{Method: "GET", Path: "/v1/users/me"}
	user := `{"id":1,"username":"alice","created_at":"2025-01-02T03:04:05Z"}`
	if err := e.checkResponse(me, resp{Status: 200, Header: jsonHdr, Body: []byte(user)}); err != nil {
		t.Fatalf("valid response rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		r   req
		out resp
	}{
		"undeclared status":     {me, resp{Status: 202, Header: jsonHdr, Body: []byte(user)}},
		"extra field":           {me, resp{Status: 200, Header: jsonHdr, Body: []byte(`{"id":1,"username":"alice","created_at":"2025-01-02T03:04:05Z","password":"x"}`)}},
		"missing field":         {me, resp{Status: 200, Header: jsonHdr, Body: []byte(`{"id":1,"username":"alice"}`)}},
		"wrong type":            {me, resp{Status: 200, Header: jsonHdr, Body: []byte(`{"id":"1","username":"alice","created_at":"2025-01-02T03:04:05Z"}`)}},
		"error as json":         {me, resp{Status: 404, Header: jsonHdr, Body: []byte(`{"type":"https://tether.im/problems/not_found","title":"Not Found","status":404,"code":"not_found"}`)}},
		"problem mismatch":      {me, resp{Status: 404, Header: probHdr, Body: []byte(`{"type":"https://tether.im/problems/conflict","title":"Conflict","status":409,"code":"conflict"}`)}},
		"unknown route 200":     {req{Method: "GET", Path: "/v1/nope"}, resp{Status: 200, Header: jsonHdr, Body: []byte(`{}`)}},
		"401 without challenge": {me, resp{Status: 401, Header: probHdr, Body: []byte(`{"type":"https://tether.im/problems/unauthorized","title":"Unauthorized","status":401,"code":"unauthorized"}`)}},
	} {
		if err := e.checkResponse(tc.r, tc.out); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
