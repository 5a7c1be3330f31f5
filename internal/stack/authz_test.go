package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tetherim/tether"
)

// The authorization table (issue 4, point 10): every operation of
// openapi.yaml is called by every kind of principal that could reach it -
// anonymous, another user, a non-member, a member, an admin, the owner, and
// API keys with the wrong scope - and each answer's exact status is
// asserted. TestAuthz_EveryOperationIsCovered fails when an operation has no
// rows, so a new endpoint cannot ship without them.

// principal names who calls.
type principal string

const (
	anon      principal = "anonymous"
	owner     principal = "owner"  // owns the group, sent the messages
	admin     principal = "admin"  // group admin
	member    principal = "member" // plain group member, owner's 1:1 peer
	outsider  principal = "outsider"
	keyPush   principal = "key:push"
	keyBcast  principal = "key:broadcast"
	keyAdmin  principal = "key:admin"
	userAsKey principal = "user-token-as-key" // a user access token sent where an API key is due
)

// authzCase is one call and the status it must get.
type authzCase struct {
	method, path string // path is the spec template, e.g. /v1/groups/{group_id}
	who          principal
	body         any
	params       func(f *authzFixture) map[string]string // path parameters; nil: the fixture's defaults
	want         int
}

// authzFixture is the world the table runs in: built once over HTTP.
type authzFixture struct {
	t        *testing.T
	base     string
	tokens   map[principal]string // access tokens
	keys     map[principal]string // API key secrets
	ids      map[principal]int64  // user ids
	sess     map[principal]string // login session ids
	group    int64                // owner's group with admin and member
	dm       string               // owner <-> member conversation id
	msg      int64                // owner's 1:1 message to member
	invite   int64                // owner's invitation of outsider into group
	push     string               // a push sent with keyPush
	apiKeyID string               // the push key's id
}

func (f *authzFixture) call(method, path string, who principal, body any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	rq, err := http.NewRequestWithContext(f.t.Context(), method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		rq.Header.Set("Content-Type", "application/json")
	}
	switch {
	case who == userAsKey:
		rq.Header.Set("X-API-Key", f.tokens[owner])
	case f.keys[who] != "":
		rq.Header.Set("X-API-Key", f.keys[who])
	case f.tokens[who] != "":
		rq.Header.Set("Authorization", "Bearer "+f.tokens[who])
	}
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// must calls and decodes a 2xx answer into out.
func (f *authzFixture) must(method, path string, who principal, body, out any) {
	f.t.Helper()
	st, b := f.call(method, path, who, body)
	if st/100 != 2 {
		f.t.Fatalf("fixture %s %s as %s: %d %s", method, path, who, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("fixture %s %s: %v in %s", method, path, err, b)
		}
	}
}

func newAuthzFixture(t *testing.T) *authzFixture {
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, _ := keyPair(t)
	cfg := apiConfig(t, dsn, prefix, priv)
	cfg.PushAPI.AdminKey = strings.Repeat("a", 40)
	a, err := StartAPI(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	f := &authzFixture{
		t: t, base: "http://" + a.HTTPAddr,
		tokens: map[principal]string{}, keys: map[principal]string{keyAdmin: cfg.PushAPI.AdminKey},
		ids: map[principal]int64{}, sess: map[principal]string{},
	}
	for _, p := range []principal{owner, admin, member, outsider} {
		name := "authz_" + string(p)
		f.must("POST", "/v1/accounts", anon, map[string]string{"username": name, "password": "correct horse battery"}, nil)
		var tok struct {
			AccessToken string `json:"access_token"`
			UserID      int64  `json:"user_id"`
			SessionID   string `json:"session_id"`
		}
		f.must("POST", "/v1/sessions", anon, map[string]any{"username": name, "password": "correct horse battery", "device_id": "dev-" + string(p), "platform": "ios"}, &tok)
		f.tokens[p], f.ids[p], f.sess[p] = tok.AccessToken, tok.UserID, tok.SessionID
	}
	var g struct {
		ID int64 `json:"id"`
	}
	f.must("POST", "/v1/groups", owner, map[string]any{"name": "authz", "member_ids": []int64{f.ids[admin], f.ids[member]}}, &g)
	f.group = g.ID
	f.must("PUT", fmt.Sprintf("/v1/groups/%d/members/%d/role", f.group, f.ids[admin]), owner, map[string]string{"role": "admin"}, nil)
	var m struct {
		ID             int64  `json:"id"`
		ConversationID string `json:"conversation_id"`
	}
	f.must("POST", "/v1/messages", owner, map[string]any{"recipient_id": f.ids[member], "client_msg_id": "authz-1", "type": "text", "content": map[string]string{"text": "hi"}}, &m)
	f.msg, f.dm = m.ID, m.ConversationID
	f.must("POST", "/v1/messages", owner, map[string]any{"group_id": f.group, "client_msg_id": "authz-g1", "type": "text", "content": map[string]string{"text": "hi all"}}, nil)
	var inv struct {
		ID int64 `json:"id"`
	}
	f.must("POST", fmt.Sprintf("/v1/groups/%d/invitations", f.group), owner, map[string]any{"user_id": f.ids[outsider]}, &inv)
	f.invite = inv.ID
	for _, k := range []struct {
		who   principal
		scope string
	}{{keyPush, "push"}, {keyBcast, "broadcast"}} {
		var key struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		f.must("POST", "/v1/admin/api-keys", keyAdmin, map[string]any{"name": "authz " + k.scope, "scopes": []string{k.scope}}, &key)
		f.keys[k.who] = key.Secret
		if k.who == keyPush {
			f.apiKeyID = key.ID
		}
	}
	var p struct {
		PushID string `json:"push_id"`
	}
	f.must("POST", "/v1/push", keyPush, map[string]any{"user_ids": []int64{f.ids[member]}, "payload": map[string]string{"a": "b"}}, &p)
	f.push = p.PushID
	return f
}

// defaults are the path parameters of a case without its own.
func (f *authzFixture) defaults() map[string]string {
	return map[string]string{
		"id": fmt.Sprint(f.ids[member]), "user_id": fmt.Sprint(f.ids[member]), "username": "authz_member",
		"group_id": fmt.Sprint(f.group), "conversation_id": f.dm, "message_id": fmt.Sprint(f.msg),
		"invitation_id": fmt.Sprint(f.invite), "push_id": f.push, "key_id": f.apiKeyID,
		"session_id": f.sess[owner],
		"name":       "history_page_max", // a switch; set to its default, so no other row changes
	}
}

func (f *authzFixture) expand(path string, params map[string]string) string {
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	for _, p := range []principal{owner, admin, member, outsider} {
		path = strings.ReplaceAll(path, "{"+string(p)+"}", fmt.Sprint(f.ids[p]))
	}
	return path
}

// template is the spec path of a case path: the query cut off, and
// principal placeholders named as the spec names them.
func template(path string) string {
	path, _, _ = strings.Cut(path, "?")
	return strings.NewReplacer("{admin}", "{user_id}", "{outsider}", "{user_id}").Replace(path)
}

// authzCases is the table. Rows for one operation run in order, so a
// destructive success comes last.
func authzCases() []authzCase {
	var cs []authzCase
	add := func(method, path string, body any, wants map[principal]int) {
		// A stable order: the map is only the table's notation.
		order := []principal{anon, userAsKey, keyPush, keyBcast, keyAdmin, outsider, member, admin, owner}
		for _, who := range order {
			if want, ok := wants[who]; ok {
				cs = append(cs, authzCase{method: method, path: path, who: who, body: body, want: want})
			}
		}
	}
	user := func(anonWant int, rest map[principal]int) map[principal]int {
		m := map[principal]int{anon: anonWant, keyAdmin: 401}
		for k, v := range rest {
			m[k] = v
		}
		return m
	}
	// Public.
	add("GET", "/healthz", nil, map[principal]int{anon: 200})
	add("GET", "/readyz", nil, map[principal]int{anon: 200})
	add("GET", "/openapi.yaml", nil, map[principal]int{anon: 200})
	add("GET", "/docs", nil, map[principal]int{anon: 200})
	add("GET", "/docs/", nil, map[principal]int{anon: 200}) // a 301 to /docs, followed
	add("GET", "/docs/rapidoc-min.js", nil, map[principal]int{anon: 200})
	add("POST", "/v1/accounts", map[string]string{"username": "authz_new", "password": "correct horse battery"}, map[principal]int{anon: 201})
	add("POST", "/v1/sessions", map[string]any{"username": "authz_owner", "password": "wrong password!", "device_id": "x", "platform": "ios"}, map[principal]int{anon: 401})
	add("POST", "/v1/sessions/refresh", map[string]string{"refresh_token": "not-a-token"}, map[principal]int{anon: 401})

	// The caller's own account: any user, never anonymous or a key.
	add("GET", "/v1/users/me", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/users/me/profile", nil, user(401, map[principal]int{outsider: 200}))
	add("PATCH", "/v1/users/me/profile", map[string]string{"display_name": "O"}, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/users/{id}", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/users/{id}/profile", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/users/by-name/{username}", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/devices", nil, user(401, map[principal]int{outsider: 200}))
	// session_id is the owner's: nobody else can revoke it.
	add("DELETE", "/v1/devices/{session_id}", nil, user(401, map[principal]int{outsider: 404, member: 404}))
	add("POST", "/v1/account/password", map[string]string{"old_password": "wrong password!", "new_password": "another horse battery"}, user(401, map[principal]int{outsider: 403}))
	add("GET", "/v1/contacts", nil, user(401, map[principal]int{outsider: 200}))
	add("PUT", "/v1/contacts/{user_id}", nil, user(401, map[principal]int{outsider: 204}))
	add("DELETE", "/v1/contacts/{user_id}", nil, user(401, map[principal]int{outsider: 204}))
	add("GET", "/v1/blocks", nil, user(401, map[principal]int{outsider: 200}))
	add("PUT", "/v1/blocks/{user_id}", nil, user(401, map[principal]int{outsider: 204}))
	add("DELETE", "/v1/blocks/{user_id}", nil, user(401, map[principal]int{outsider: 204}))
	add("GET", "/v1/presence?user_ids={user_id}", nil, user(401, map[principal]int{outsider: 200}))
	// Where to connect: any signed-in user, never an API key or a stranger.
	add("GET", "/v1/push-nodes", nil, user(401, map[principal]int{outsider: 200}))

	// Messages and conversations: only participants see a conversation.
	add("POST", "/v1/messages", map[string]any{"group_id": "{group_id}", "client_msg_id": "authz-x", "type": "text", "content": map[string]string{"text": "x"}},
		user(401, map[principal]int{outsider: 404, member: 201}))
	add("GET", "/v1/sync", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/conversations", nil, user(401, map[principal]int{outsider: 200}))
	add("GET", "/v1/conversations/{conversation_id}", nil, user(401, map[principal]int{outsider: 404, admin: 404, member: 200}))
	add("GET", "/v1/conversations/{conversation_id}/messages", nil, user(401, map[principal]int{outsider: 404, admin: 404, member: 200}))
	add("POST", "/v1/conversations/{conversation_id}/read", map[string]any{"version": 1}, user(401, map[principal]int{outsider: 404, member: 200}))
	add("PUT", "/v1/conversations/{conversation_id}/mute", map[string]any{"muted": true}, user(401, map[principal]int{outsider: 404, member: 200}))
	add("DELETE", "/v1/conversations/{conversation_id}", nil, user(401, map[principal]int{outsider: 404, member: 204}))
	// The owner sent the message: the peer may not recall it, a stranger does not see it.
	add("POST", "/v1/messages/{message_id}/recall", nil, user(401, map[principal]int{outsider: 404, member: 403, owner: 200}))

	// Groups: members see, managers manage, the owner owns.
	add("GET", "/v1/groups", nil, user(401, map[principal]int{outsider: 200}))
	add("POST", "/v1/groups", map[string]any{"name": "another"}, user(401, map[principal]int{outsider: 201}))
	add("GET", "/v1/groups/{group_id}", nil, user(401, map[principal]int{outsider: 404, member: 200}))
	add("PATCH", "/v1/groups/{group_id}", map[string]any{"announcement": "hello"}, user(401, map[principal]int{outsider: 404, member: 403, admin: 200}))
	add("GET", "/v1/groups/{group_id}/members", nil, user(401, map[principal]int{outsider: 404, member: 200}))
	add("POST", "/v1/groups/{group_id}/members", map[string]any{"user_ids": []string{"{outsider}"}}, user(401, map[principal]int{outsider: 404, member: 403}))
	add("PUT", "/v1/groups/{group_id}/members/{user_id}/role", map[string]any{"role": "admin"}, user(401, map[principal]int{outsider: 404, member: 403, admin: 403}))
	add("PUT", "/v1/groups/{group_id}/members/{user_id}/mute", map[string]any{"duration_seconds": 60}, user(401, map[principal]int{outsider: 404, member: 403, admin: 200}))
	add("PUT", "/v1/groups/{group_id}/mute", map[string]any{"muted": false}, user(401, map[principal]int{outsider: 404, member: 403, admin: 200}))
	add("POST", "/v1/groups/{group_id}/transfer", map[string]any{"user_id": "{admin}"}, user(401, map[principal]int{outsider: 404, member: 403}))
	add("POST", "/v1/groups/{group_id}/transfer", map[string]any{"user_id": "{member}"}, map[principal]int{admin: 403})
	add("POST", "/v1/groups/{group_id}/invitations", map[string]any{"user_id": "{admin}"}, user(401, map[principal]int{outsider: 404}))
	add("GET", "/v1/invitations", nil, user(401, map[principal]int{outsider: 200}))
	// The invitation is the outsider's: only they accept it.
	add("POST", "/v1/invitations/{invitation_id}/accept", nil, user(401, map[principal]int{member: 404}))
	// Someone else's invitation is invisible to a plain member.
	add("DELETE", "/v1/invitations/{invitation_id}", nil, user(401, map[principal]int{member: 404}))
	add("DELETE", "/v1/groups/{group_id}/members/{admin}", nil, user(401, map[principal]int{outsider: 404, member: 403}))
	add("POST", "/v1/groups/{group_id}/leave", nil, user(401, map[principal]int{outsider: 404, owner: 409}))
	add("DELETE", "/v1/groups/{group_id}", nil, user(401, map[principal]int{outsider: 404, member: 403, admin: 403}))

	// The push API: API keys with the right scope only; user tokens never.
	keyOnly := func(wants map[principal]int) map[principal]int {
		m := map[principal]int{anon: 401, userAsKey: 401, outsider: 401}
		for k, v := range wants {
			m[k] = v
		}
		return m
	}
	push := map[string]any{"user_ids": []string{"{member}"}, "payload": map[string]string{"k": "v"}}
	add("POST", "/v1/push", push, keyOnly(map[principal]int{keyBcast: 403, keyAdmin: 403, keyPush: 202}))
	add("POST", "/v1/push/batch", map[string]any{"pushes": []any{push}}, keyOnly(map[principal]int{keyBcast: 403, keyAdmin: 403, keyPush: 202}))
	add("POST", "/v1/push/broadcast", map[string]any{"payload": map[string]string{"k": "v"}}, keyOnly(map[principal]int{keyPush: 403, keyAdmin: 403, keyBcast: 202}))
	// Any push key may look up a user id by name; other scopes may not.
	add("GET", "/v1/push/users/by-name/{username}", nil, keyOnly(map[principal]int{keyBcast: 403, keyAdmin: 403, keyPush: 200}))
	// A push is visible only to the key that sent it.
	add("GET", "/v1/push/{push_id}", nil, keyOnly(map[principal]int{keyAdmin: 403, keyBcast: 404, keyPush: 200}))
	add("GET", "/v1/admin/api-keys", nil, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 200}))
	add("POST", "/v1/admin/api-keys", map[string]any{"name": "x", "scopes": []string{"push"}}, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 201}))
	add("DELETE", "/v1/admin/api-keys/{key_id}", nil, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403}))
	add("GET", "/v1/admin/switches", nil, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 200}))
	add("GET", "/v1/admin/switches/{name}", nil, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 200}))
	add("PUT", "/v1/admin/switches/{name}", map[string]any{"value": "0", "reason": "authz table"}, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 200}))
	add("GET", "/v1/admin/switches/{name}/history", nil, keyOnly(map[principal]int{keyPush: 403, keyBcast: 403, keyAdmin: 200}))
	// Last: ends the owner's session.
	add("POST", "/v1/sessions/logout", nil, user(401, map[principal]int{outsider: 204}))
	return cs
}

// fill replaces "{group_id}", "{outsider}", ... placeholders in a body.
func (f *authzFixture) fill(body any) any {
	if body == nil {
		return nil
	}
	b, _ := json.Marshal(body)
	s := string(b)
	for k, v := range f.defaults() {
		s = strings.ReplaceAll(s, `"{`+k+`}"`, v)
	}
	for _, p := range []principal{owner, admin, member, outsider} {
		s = strings.ReplaceAll(s, `"{`+string(p)+`}"`, fmt.Sprint(f.ids[p]))
	}
	return json.RawMessage(s)
}

func TestAuthz_EveryOperationAnswersEachPrincipalExactly(t *testing.T) {
	f := newAuthzFixture(t)
	for _, c := range authzCases() {
		params := f.defaults()
		if c.params != nil {
			params = c.params(f)
		}
		path := f.expand(c.path, params)
		st, b := f.call(c.method, path, c.who, f.fill(c.body))
		if st != c.want {
			t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, c.who, st, c.want, b)
		}
		if st == http.StatusUnauthorized || st == http.StatusForbidden || st == http.StatusNotFound {
			// A refusal never carries another user's data: only a problem document.
			if !bytes.Contains(b, []byte(`"code"`)) || bytes.Contains(b, []byte(`"content"`)) {
				t.Errorf("%s %s as %s: refusal is not a bare problem: %s", c.method, c.path, c.who, b)
			}
		}
	}
}

func TestAuthz_EveryOperationIsCovered(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(tether.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	type op struct{ method, path string }
	covered := map[op][]principal{}
	for _, c := range authzCases() {
		k := op{c.method, template(c.path)}
		covered[k] = append(covered[k], c.who)
	}
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			whos, ok := covered[op{method, path}]
			if !ok {
				t.Errorf("%s %s (%s) has no authorization rows", method, path, o.OperationID)
				continue
			}
			public := o.Security != nil && len(*o.Security) == 0
			if !public && !slices.Contains(whos, anon) {
				t.Errorf("%s %s is protected but has no anonymous row", method, path)
			}
		}
	}
}
