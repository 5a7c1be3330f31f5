package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/contract/goclient"
)

// flowAdminKey is the bootstrap admin key startDev gives tether dev, so the
// flow can reach the push API.
const flowAdminKey = "flow-admin-key-0123456789abcdef0123456789"

// statusOf is what every generated response type has.
type statusOf interface{ StatusCode() int }

// want fails unless resp came back with status; body is the response body
// for the message.
func want(t *testing.T, what string, resp statusOf, err error, body []byte, status int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode() != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode(), status, body)
	}
}

// jsonBody is a request body for the generated WithBody methods.
func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

// idOf reads an integer or string member of a JSON object body.
func idOf(t *testing.T, body []byte, member string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v in %s", member, err, body)
	}
	switch v := m[member].(type) {
	case float64:
		return fmt.Sprint(int64(v))
	case string:
		return v
	}
	t.Fatalf("no %s in %s", member, body)
	return ""
}

// apiKey authenticates a generated client's request with an API key.
func apiKey(k string) goclient.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("X-API-Key", k)
		return nil
	}
}

// runBreadthFlow drives every operation runFlow does not - profiles,
// contacts and blocks, devices, password, presence, groups with their
// members, roles, mutes and invitations, and the push API with its admin
// keys - through the generated Go client, so that run behind Prism every
// operation of the contract is checked on the wire. It uses its own users.
// Requests that break the contract on purpose go to direct, not through
// Prism, which would refuse them itself.
func runBreadthFlow(t *testing.T, base, direct string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 20 * time.Second}
	c, err := goclient.NewClientWithResponses(base, goclient.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	d, err := goclient.NewClientWithResponses(direct, goclient.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	const ct = "application/json"
	type user struct {
		id      int64
		as      goclient.RequestEditorFn
		session string
	}
	users := map[string]user{}
	for _, name := range []string{"carol", "dave", "erin"} {
		r, err := c.RegisterWithResponse(ctx, goclient.NewAccount{Username: name, Password: flowPassword})
		want(t, "register "+name, r, err, r.Body, 201)
		l, err := c.LoginWithResponse(ctx, goclient.Login{Username: name, Password: flowPassword, DeviceId: name + "-phone", Platform: goclient.LoginPlatformIos})
		want(t, "login "+name, l, err, l.Body, 201)
		users[name] = user{id: r.JSON201.Id, as: bearer(l.JSON201.AccessToken), session: l.JSON201.SessionId}
	}
	carol, dave, erin := users["carol"], users["dave"], users["erin"]

	// Profiles.
	up, err := c.UpdateMyProfileWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"display_name": "Carol", "attributes": map[string]any{"team": "blue"}}), carol.as)
	want(t, "update my profile", up, err, up.Body, 200)
	mine, err := c.MyProfileWithResponse(ctx, carol.as)
	want(t, "my profile", mine, err, mine.Body, 200)
	theirs, err := c.UserProfileWithResponse(ctx, carol.id, dave.as)
	want(t, "carol's profile as dave", theirs, err, theirs.Body, 200)
	if !strings.Contains(string(theirs.Body), `"Carol"`) {
		t.Fatalf("profile: %s", theirs.Body)
	}

	// Contacts and blocks.
	ac, err := c.AddContactWithResponse(ctx, dave.id, carol.as)
	want(t, "add contact", ac, err, ac.Body, 204)
	lc, err := c.ListContactsWithResponse(ctx, nil, carol.as)
	want(t, "list contacts", lc, err, lc.Body, 200)
	rc, err := c.RemoveContactWithResponse(ctx, dave.id, carol.as)
	want(t, "remove contact", rc, err, rc.Body, 204)
	bl, err := c.BlockUserWithResponse(ctx, erin.id, carol.as)
	want(t, "block", bl, err, bl.Body, 204)
	lb, err := c.ListBlocksWithResponse(ctx, nil, carol.as)
	want(t, "list blocks", lb, err, lb.Body, 200)
	blocked, err := c.SendMessageWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"recipient_id": carol.id, "client_msg_id": "b-1", "type": "text", "content": map[string]string{"text": "hi"}}), erin.as)
	want(t, "message from a blocked user", blocked, err, blocked.Body, 403)
	ub, err := c.UnblockUserWithResponse(ctx, erin.id, carol.as)
	want(t, "unblock", ub, err, ub.Body, 204)

	// Presence (nobody holds a push connection here) and devices.
	pr, err := c.GetPresenceWithResponse(ctx, &goclient.GetPresenceParams{UserIds: []int64{dave.id, erin.id}}, carol.as)
	want(t, "presence", pr, err, pr.Body, 200)
	dv, err := c.ListDevicesWithResponse(ctx, carol.as)
	want(t, "devices", dv, err, dv.Body, 200)

	// Discovery: the dev stack's one push node, with both listeners.
	pn, err := c.GetPushNodesWithResponse(ctx, &goclient.GetPushNodesParams{}, carol.as)
	want(t, "push nodes", pn, err, pn.Body, 200)
	if pn.JSON200 == nil || len(pn.JSON200.Nodes) != 1 || pn.JSON200.Nodes[0].Tcp == "" || pn.JSON200.Nodes[0].Ws == nil {
		t.Fatalf("push nodes of tether dev: %s", pn.Body)
	}

	// Groups: carol creates one with dave, promotes him, invites erin.
	cg, err := c.CreateGroupWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"name": "breadth", "member_ids": []int64{dave.id}}), carol.as)
	want(t, "create group", cg, err, cg.Body, 201)
	gidS := idOf(t, cg.Body, "id")
	var gid goclient.GroupID
	fmt.Sscan(gidS, &gid)
	lg, err := c.ListGroupsWithResponse(ctx, nil, dave.as)
	want(t, "my groups", lg, err, lg.Body, 200)
	gg, err := c.GetGroupWithResponse(ctx, gid, dave.as)
	want(t, "get group", gg, err, gg.Body, 200)
	ug, err := c.UpdateGroupWithBodyWithResponse(ctx, gid, ct, jsonBody(map[string]any{"announcement": "welcome"}), carol.as)
	want(t, "update group", ug, err, ug.Body, 200)
	role, err := c.SetGroupRoleWithBodyWithResponse(ctx, gid, dave.id, ct, jsonBody(map[string]any{"role": "admin"}), carol.as)
	want(t, "make dave admin", role, err, role.Body, 204)
	inv, err := c.InviteToGroupWithBodyWithResponse(ctx, gid, ct, jsonBody(map[string]any{"user_id": erin.id}), dave.as)
	want(t, "invite erin", inv, err, inv.Body, 201)
	li, err := c.ListInvitationsWithResponse(ctx, nil, erin.as)
	want(t, "erin's invitations", li, err, li.Body, 200)
	var invID goclient.InvitationID
	fmt.Sscan(idOf(t, inv.Body, "id"), &invID)
	acc, err := c.AcceptInvitationWithResponse(ctx, invID, erin.as)
	want(t, "accept invitation", acc, err, acc.Body, 200)
	gone, err := c.DeleteInvitationWithResponse(ctx, invID, erin.as)
	want(t, "the accepted invitation is gone", gone, err, gone.Body, 404)
	gm, err := c.SendMessageWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"group_id": gid, "client_msg_id": "g-1", "type": "text", "content": map[string]string{"text": "hello group"}}), erin.as)
	want(t, "group message", gm, err, gm.Body, 201)
	mm, err := c.MuteGroupMemberWithBodyWithResponse(ctx, gid, erin.id, ct, jsonBody(map[string]any{"duration_seconds": 60}), dave.as)
	want(t, "mute erin", mm, err, mm.Body, 200)
	muted, err := c.SendMessageWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"group_id": gid, "client_msg_id": "g-2", "type": "text", "content": map[string]string{"text": "still here?"}}), erin.as)
	want(t, "message from a muted member", muted, err, muted.Body, 403)
	mg, err := c.MuteGroupWithBodyWithResponse(ctx, gid, ct, jsonBody(map[string]any{"muted": true}), carol.as)
	want(t, "mute the group", mg, err, mg.Body, 200)
	members, err := c.ListGroupMembersWithResponse(ctx, gid, nil, erin.as)
	want(t, "members", members, err, members.Body, 200)
	rm, err := c.RemoveGroupMemberWithResponse(ctx, gid, erin.id, dave.as)
	want(t, "admin removes a member", rm, err, rm.Body, 204)
	add, err := c.AddGroupMembersWithBodyWithResponse(ctx, gid, ct, jsonBody(map[string]any{"user_ids": []int64{erin.id}}), dave.as)
	want(t, "admin adds her back", add, err, add.Body, 200)
	lv, err := c.LeaveGroupWithResponse(ctx, gid, erin.as)
	want(t, "leave", lv, err, lv.Body, 204)
	ownerLeaves, err := c.LeaveGroupWithResponse(ctx, gid, carol.as)
	want(t, "the owner cannot leave", ownerLeaves, err, ownerLeaves.Body, 409)
	tr, err := c.TransferGroupWithBodyWithResponse(ctx, gid, ct, jsonBody(map[string]any{"user_id": dave.id}), carol.as)
	want(t, "transfer", tr, err, tr.Body, 204)
	notOwner, err := c.DissolveGroupWithResponse(ctx, gid, carol.as)
	want(t, "the old owner cannot dissolve", notOwner, err, notOwner.Body, 403)
	ds, err := c.DissolveGroupWithResponse(ctx, gid, dave.as)
	want(t, "dissolve", ds, err, ds.Body, 204)

	// The push API: the bootstrap admin key makes a push key.
	admin := apiKey(flowAdminKey)
	ck, err := c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"name": "flow", "scopes": []string{"push", "broadcast"}}), admin)
	want(t, "create API key", ck, err, ck.Body, 201)
	pushKey := apiKey(idOf(t, ck.Body, "secret"))
	lk, err := c.ListApiKeysWithResponse(ctx, nil, admin)
	want(t, "list API keys", lk, err, lk.Body, 200)
	userToken, err := d.ListApiKeysWithResponse(ctx, nil, carol.as)
	want(t, "a user token on the admin API", userToken, err, userToken.Body, 401)
	// A service with only a key finds carol's id by her name.
	byName, err := c.PushUserByNameWithResponse(ctx, "Carol", pushKey)
	want(t, "push user by name", byName, err, byName.Body, 200)
	if byName.JSON200 == nil || byName.JSON200.Id != carol.id {
		t.Fatalf("push user by name: %s, want id %d", byName.Body, carol.id)
	}
	sp, err := c.SendPushWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"user_ids": []int64{carol.id}, "payload": map[string]string{"title": "hi"}, "idempotency_key": "flow-1"}), pushKey)
	want(t, "push", sp, err, sp.Body, 202)
	again, err := c.SendPushWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"user_ids": []int64{carol.id}, "payload": map[string]string{"title": "hi"}, "idempotency_key": "flow-1"}), pushKey)
	want(t, "push retried", again, err, again.Body, 202)
	if idOf(t, again.Body, "push_id") != idOf(t, sp.Body, "push_id") {
		t.Fatalf("a retried push got a new id: %s vs %s", again.Body, sp.Body)
	}
	st, err := c.GetPushStatusWithResponse(ctx, idOf(t, sp.Body, "push_id"), pushKey)
	want(t, "push status", st, err, st.Body, 200)
	persisted, err := c.SendPushWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"user_ids": []int64{carol.id}, "payload": map[string]string{"title": "kept"}, "persist": true}), pushKey)
	want(t, "persisted push", persisted, err, persisted.Body, 202)
	sb, err := c.SendPushBatchWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"pushes": []any{
		map[string]any{"user_ids": []int64{dave.id}, "payload": map[string]string{"n": "1"}},
		map[string]any{"user_ids": []int64{erin.id}, "payload": map[string]string{"n": "2"}},
	}}), pushKey)
	want(t, "push batch", sb, err, sb.Body, 202)
	bc, err := c.SendBroadcastWithBodyWithResponse(ctx, ct, jsonBody(map[string]any{"payload": map[string]string{"notice": "maintenance"}, "platforms": []string{"ios"}}), pushKey)
	want(t, "broadcast", bc, err, bc.Body, 202)
	rk, err := c.RevokeApiKeyWithResponse(ctx, idOf(t, ck.Body, "id"), admin)
	want(t, "revoke API key", rk, err, rk.Body, 204)

	// Sessions last: a password change, a device revoked, a logout.
	cp, err := c.ChangePasswordWithBodyWithResponse(ctx, ct, jsonBody(map[string]string{"old_password": flowPassword, "new_password": "another horse battery"}), dave.as)
	want(t, "change password", cp, err, cp.Body, 204)
	rd, err := c.RevokeDeviceWithResponse(ctx, erin.session, carol.as)
	want(t, "revoke another user's session", rd, err, rd.Body, 404)
	lo, err := c.LogoutWithResponse(ctx, carol.as)
	want(t, "logout", lo, err, lo.Body, 204)
	after, err := c.MeWithResponse(ctx, carol.as)
	want(t, "the logged-out token", after, err, after.Body, 401)
	rself, err := c.RevokeDeviceWithResponse(ctx, erin.session, erin.as)
	want(t, "revoke my own session", rself, err, rself.Body, 204)
}
