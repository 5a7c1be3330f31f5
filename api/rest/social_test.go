package rest

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/tetherim/tether"
)

func sendStatus(e *env, from user, to int64, cid string) resp {
	return e.do(req{Method: "POST", Path: "/v1/messages", Token: from.Tokens.AccessToken, Body: map[string]any{
		"recipient_id": to, "client_msg_id": cid, "type": "text", "content": map[string]string{"text": "hi"},
	}})
}

func TestBlock_BlockedSenderGets403UntilUnblockedAndOnlyOneWay(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		blockPath := "/v1/blocks/" + strconv.FormatInt(b.ID, 10)
		e.do(req{Method: "PUT", Path: blockPath, Token: a.Tokens.AccessToken}).decode(t, 204, nil)
		e.do(req{Method: "PUT", Path: blockPath, Token: a.Tokens.AccessToken}).decode(t, 204, nil)
		p := sendStatus(e, b, a.ID, "b1").wantProblem(t, 403, tether.EFORBIDDEN)
		if p.Detail != "you cannot message this user" {
			t.Fatalf("detail %q", p.Detail)
		}
		// Blocking is one-directional: alice still reaches bob.
		e.send(a, b.ID, "a1", "hi bob")
		var page tether.UserPage
		e.do(req{Method: "GET", Path: "/v1/blocks", Token: a.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Users) != 1 || page.Users[0].ID != b.ID || page.Users[0].Username != "bob" {
			t.Fatalf("blocks = %+v", page)
		}
		e.do(req{Method: "GET", Path: "/v1/blocks", Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Users) != 0 {
			t.Fatalf("bob's blocks = %+v", page)
		}
		e.do(req{Method: "DELETE", Path: blockPath, Token: a.Tokens.AccessToken}).decode(t, 204, nil)
		e.do(req{Method: "DELETE", Path: blockPath, Token: a.Tokens.AccessToken}).decode(t, 204, nil)
		e.send(b, a.ID, "b1", "hi again")
	})
}

func TestSocial_SelfIsInvalidUnknownUserNotFoundAnonymousUnauthorized(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a := e.signup("alice")
		me := strconv.FormatInt(a.ID, 10)
		for _, base := range []string{"/v1/blocks/", "/v1/contacts/"} {
			e.do(req{Method: "PUT", Path: base + me, Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
			e.do(req{Method: "PUT", Path: base + "999999", Token: a.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
			e.do(req{Method: "PUT", Path: base + "abc", Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
			e.do(req{Method: "PUT", Path: base + "999999"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		}
		e.do(req{Method: "GET", Path: "/v1/contacts"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "GET", Path: "/v1/blocks"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestContacts_PagedByCursorAddIdempotentRemove(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a := e.signup("alice")
		var want []int64
		for i := range 5 {
			u := e.signup(fmt.Sprintf("user%d", i))
			want = append(want, u.ID)
			for range 2 {
				e.do(req{Method: "PUT", Path: "/v1/contacts/" + strconv.FormatInt(u.ID, 10), Token: a.Tokens.AccessToken}).decode(t, 204, nil)
			}
		}
		var got []int64
		path := "/v1/contacts?limit=2"
		for range 5 {
			var page tether.UserPage
			e.do(req{Method: "GET", Path: path, Token: a.Tokens.AccessToken}).decode(t, 200, &page)
			for _, u := range page.Users {
				got = append(got, u.ID)
			}
			if page.NextCursor == "" {
				break
			}
			path = "/v1/contacts?limit=2&cursor=" + page.NextCursor
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("contacts %v, want %v", got, want)
		}
		e.do(req{Method: "DELETE", Path: "/v1/contacts/" + strconv.FormatInt(want[0], 10), Token: a.Tokens.AccessToken}).decode(t, 204, nil)
		var page tether.UserPage
		e.do(req{Method: "GET", Path: "/v1/contacts", Token: a.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Users) != 4 || page.Users[0].ID != want[1] || page.NextCursor != "" {
			t.Fatalf("after remove: %+v", page)
		}
		e.do(req{Method: "GET", Path: "/v1/contacts?cursor=zz", Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
	})
}
