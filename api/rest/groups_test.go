package rest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/token"
)

// Every response below is checked against openapi.yaml by e.do.

func TestGroups_RESTStatusesOfTheWholeLifecycle(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		owner, admin, member, outsider, blocker := e.signup("owner"), e.signup("admin"), e.signup("member"), e.signup("outsider"), e.signup("blocker")
		tok := func(u user) string { return u.Tokens.AccessToken }

		e.do(req{Method: "POST", Path: "/v1/groups", Token: tok(owner), Body: map[string]any{"name": ""}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: "/v1/groups", Token: tok(owner), Body: map[string]any{"name": "x", "bogus": 1}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: "/v1/groups", Body: map[string]any{"name": "x"}}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "PUT", Path: fmt.Sprintf("/v1/blocks/%d", owner.ID), Token: tok(blocker)}).decode(t, 204, nil)
		p := e.do(req{Method: "POST", Path: "/v1/groups", Token: tok(owner), Body: map[string]any{"name": "Team", "member_ids": []int64{member.ID, blocker.ID}}}).wantProblem(t, 403, tether.EFORBIDDEN)
		if p.Detail != "some users cannot be added" {
			t.Fatalf("detail %q", p.Detail)
		}

		var g tether.Group
		e.do(req{Method: "POST", Path: "/v1/groups", Token: tok(owner), Body: map[string]any{
			"name": "Team", "announcement": "hi", "member_ids": []int64{admin.ID, member.ID},
		}}).decode(t, 201, &g)
		if g.MemberCount != 3 || g.MyRole != "owner" {
			t.Fatalf("created %+v", g)
		}
		base := fmt.Sprintf("/v1/groups/%d", g.ID)
		e.do(req{Method: "GET", Path: base, Token: tok(outsider)}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: "/v1/groups/abc", Token: tok(owner)}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "GET", Path: base, Token: tok(member)}).decode(t, 200, &g)

		var page tether.GroupPage
		e.do(req{Method: "GET", Path: "/v1/groups?limit=1", Token: tok(member)}).decode(t, 200, &page)
		if len(page.Groups) != 1 || page.Groups[0].ID != g.ID {
			t.Fatalf("groups %+v", page)
		}

		e.do(req{Method: "PUT", Path: fmt.Sprintf("%s/members/%d/role", base, admin.ID), Token: tok(member), Body: map[string]any{"role": "admin"}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "PUT", Path: fmt.Sprintf("%s/members/%d/role", base, admin.ID), Token: tok(owner), Body: map[string]any{"role": "owner"}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PUT", Path: fmt.Sprintf("%s/members/%d/role", base, admin.ID), Token: tok(owner), Body: map[string]any{"role": "admin"}}).decode(t, 204, nil)

		e.do(req{Method: "PATCH", Path: base, Token: tok(member), Body: map[string]any{"name": "X"}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "PATCH", Path: base, Token: tok(admin), Body: map[string]any{}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PATCH", Path: base, Token: tok(admin), Body: map[string]any{"announcement": ""}}).decode(t, 200, &g)
		if g.Announcement != "" || g.MyRole != "admin" {
			t.Fatalf("updated %+v", g)
		}

		var members tether.GroupMemberPage
		e.do(req{Method: "GET", Path: base + "/members?limit=2", Token: tok(member)}).decode(t, 200, &members)
		if len(members.Members) != 2 || members.NextCursor == "" {
			t.Fatalf("members %+v", members)
		}
		e.do(req{Method: "GET", Path: base + "/members", Token: tok(outsider)}).wantProblem(t, 404, tether.ENOTFOUND)

		e.do(req{Method: "POST", Path: base + "/members", Token: tok(member), Body: map[string]any{"user_ids": []int64{outsider.ID}}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "POST", Path: base + "/members", Token: tok(admin), Body: map[string]any{"user_ids": []int64{}}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: base + "/members", Token: tok(owner), Body: map[string]any{"user_ids": []int64{blocker.ID}}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "POST", Path: base + "/members", Token: tok(admin), Body: map[string]any{"user_ids": []int64{outsider.ID, member.ID}}}).decode(t, 200, &g)
		if g.MemberCount != 4 {
			t.Fatalf("after add %+v", g)
		}

		var mm tether.GroupMember
		mute := fmt.Sprintf("%s/members/%d/mute", base, member.ID)
		e.do(req{Method: "PUT", Path: mute, Token: tok(admin), Body: map[string]any{}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PUT", Path: mute, Token: tok(admin), Body: map[string]any{"until": nil, "duration_seconds": 5}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PUT", Path: mute, Token: tok(admin), Body: map[string]any{"until": "2001-01-01T00:00:00Z"}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PUT", Path: mute, Token: tok(outsider), Body: map[string]any{"duration_seconds": 60}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "PUT", Path: mute, Token: tok(admin), Body: map[string]any{"duration_seconds": 60}}).decode(t, 200, &mm)
		if mm.MutedUntil == nil {
			t.Fatalf("muted %+v", mm)
		}
		groupSend := func(u user, cid string) resp {
			return e.do(req{Method: "POST", Path: "/v1/messages", Token: tok(u), Body: map[string]any{
				"group_id": g.ID, "client_msg_id": cid, "type": "text", "content": map[string]string{"text": "hi"},
			}})
		}
		groupSend(member, "m1").wantProblem(t, 403, tether.EFORBIDDEN)
		var unmuted tether.GroupMember
		e.do(req{Method: "PUT", Path: mute, Token: tok(admin), Body: map[string]any{"until": nil}}).decode(t, 200, &unmuted)
		if unmuted.MutedUntil != nil || unmuted.UserID != member.ID {
			t.Fatalf("unmuted %+v", unmuted)
		}
		groupSend(member, "m2").decode(t, 201, nil)

		e.do(req{Method: "PUT", Path: base + "/mute", Token: tok(member), Body: map[string]any{"muted": true}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "PUT", Path: base + "/mute", Token: tok(admin), Body: map[string]any{}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "PUT", Path: base + "/mute", Token: tok(admin), Body: map[string]any{"muted": true}}).decode(t, 200, &g)
		groupSend(member, "m3").wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "PUT", Path: base + "/mute", Token: tok(owner), Body: map[string]any{"muted": false}}).decode(t, 200, &g)

		// Invitations.
		newbie := e.signup("newbie")
		var inv tether.Invitation
		e.do(req{Method: "POST", Path: base + "/invitations", Token: tok(outsider), Body: map[string]any{"user_id": blocker.ID}}).decode(t, 201, &inv)
		e.do(req{Method: "POST", Path: base + "/invitations", Token: tok(owner), Body: map[string]any{"user_id": newbie.ID}}).decode(t, 201, &inv)
		e.do(req{Method: "POST", Path: base + "/invitations", Token: tok(member), Body: map[string]any{"user_id": newbie.ID}}).wantProblem(t, 409, tether.ECONFLICT)
		e.do(req{Method: "POST", Path: base + "/invitations", Token: tok(member), Body: map[string]any{"user_id": admin.ID}}).wantProblem(t, 409, tether.ECONFLICT)
		var invs tether.InvitationPage
		e.do(req{Method: "GET", Path: "/v1/invitations", Token: tok(newbie)}).decode(t, 200, &invs)
		if len(invs.Invitations) != 1 || invs.Invitations[0].GroupName != "Team" {
			t.Fatalf("invitations %+v", invs)
		}
		e.do(req{Method: "POST", Path: fmt.Sprintf("/v1/invitations/%d/accept", inv.ID), Token: tok(member)}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "DELETE", Path: fmt.Sprintf("/v1/invitations/%d", inv.ID), Token: tok(member)}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "POST", Path: fmt.Sprintf("/v1/invitations/%d/accept", inv.ID), Token: tok(newbie)}).decode(t, 200, &g)
		if g.MemberCount != 5 || g.MyRole != "member" {
			t.Fatalf("joined %+v", g)
		}
		e.do(req{Method: "DELETE", Path: fmt.Sprintf("/v1/invitations/%d", inv.ID), Token: tok(newbie)}).wantProblem(t, 404, tether.ENOTFOUND)

		// Removing, leaving, transferring.
		e.do(req{Method: "DELETE", Path: fmt.Sprintf("%s/members/%d", base, owner.ID), Token: tok(admin)}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "DELETE", Path: fmt.Sprintf("%s/members/%d", base, newbie.ID), Token: tok(admin)}).decode(t, 204, nil)
		e.do(req{Method: "DELETE", Path: fmt.Sprintf("%s/members/%d", base, outsider.ID), Token: tok(outsider)}).decode(t, 204, nil)
		e.do(req{Method: "POST", Path: base + "/leave", Token: tok(owner)}).wantProblem(t, 409, tether.ECONFLICT)
		e.do(req{Method: "POST", Path: base + "/leave", Token: tok(outsider)}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "POST", Path: base + "/transfer", Token: tok(admin), Body: map[string]any{"user_id": member.ID}}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "POST", Path: base + "/transfer", Token: tok(owner), Body: map[string]any{"user_id": outsider.ID}}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "POST", Path: base + "/transfer", Token: tok(owner), Body: map[string]any{"user_id": member.ID}}).decode(t, 204, nil)
		e.do(req{Method: "POST", Path: base + "/leave", Token: tok(owner)}).decode(t, 204, nil)

		// Dissolving: the new owner only; then everything is 404.
		e.do(req{Method: "DELETE", Path: base, Token: tok(admin)}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "DELETE", Path: base, Token: tok(member)}).decode(t, 204, nil)
		e.do(req{Method: "GET", Path: base, Token: tok(member)}).wantProblem(t, 404, tether.ENOTFOUND)
		groupSend(member, "m4").wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/conversations/g:%d/messages", g.ID), Token: tok(admin)}).wantProblem(t, 404, tether.ENOTFOUND)
	})
}

func TestGroups_WithoutAServiceAnswer503(t *testing.T) {
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d := routingDeps(t)
	d.Verifier = token.NewVerifier(pub)
	s, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := token.NewSigner(priv, time.Minute).Sign(token.Claims{UserID: 1, DeviceID: "d", Platform: "web", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/groups", "/v1/groups/1", "/v1/invitations"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), tether.EUNAVAILABLE) {
			t.Fatalf("GET %s: status %d: %s", path, w.Code, w.Body)
		}
	}
}
