package contract

import (
	"bytes"
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

const flowPassword = "correct horse battery"

// bearer authenticates a generated client's request with an access token.
func bearer(token string) goclient.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// noErr fails the test when a request got no response at all.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// problem checks that a response is the typed problem document the spec
// promises for its status: the generated client decoded it into p.
func problem(t *testing.T, what string, status int, p *goclient.Problem, wantStatus int, wantCode goclient.ProblemCode) {
	t.Helper()
	if status != wantStatus || p == nil {
		t.Fatalf("%s: status %d, typed problem %v; want %d %s", what, status, p, wantStatus, wantCode)
	}
	if p.Code != wantCode || p.Status != wantStatus || p.Type != "https://tether.im/problems/"+string(wantCode) || p.Title == "" {
		t.Fatalf("%s: problem %+v, want code %s", what, *p, wantCode)
	}
}

// runFlow drives the REST API at base through the generated Go client:
// accounts, sessions, user look-ups, an idempotent send, sync, history, and
// the error cases, checking every response's typed decoding.
//
// Requests that break the spec itself (a short password, malformed JSON, no
// token) go to direct instead, the API without anything in front: a
// validating proxy answers those on its own without asking the server, so
// they say nothing about the server's side of the contract there.
func runFlow(t *testing.T, base, direct string) {
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

	health, err := c.HealthzWithResponse(ctx)
	noErr(t, err)
	if health.JSON200 == nil || health.JSON200.Status != goclient.StatusStatusOk {
		t.Fatalf("healthz: %v %+v", err, health)
	}
	ready, err := c.ReadyzWithResponse(ctx)
	noErr(t, err)
	if ready.JSON200 == nil {
		t.Fatalf("readyz: %v status %d body %s", err, ready.StatusCode(), ready.Body)
	}
	// The raw response: the generated client would parse the YAML.
	spec, err := c.Openapi(ctx)
	noErr(t, err)
	specBody, err := io.ReadAll(spec.Body)
	spec.Body.Close()
	noErr(t, err)
	if spec.StatusCode != 200 || !bytes.HasPrefix(specBody, []byte("openapi: 3.0.3")) {
		t.Fatalf("openapi.yaml: status %d", spec.StatusCode)
	}
	docs, err := c.DocsWithResponse(ctx)
	noErr(t, err)
	if docs.StatusCode() != 200 || !strings.Contains(string(docs.Body), "<rapi-doc") {
		t.Fatalf("docs: %v status %d", err, docs.StatusCode())
	}
	// /docs/ redirects; asked directly, without following, to see the 301
	// itself (a proxy may or may not follow it for us).
	noFollow := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	dn, err := goclient.NewClientWithResponses(direct, goclient.WithHTTPClient(noFollow))
	noErr(t, err)
	slash, err := dn.DocsSlashWithResponse(ctx)
	noErr(t, err)
	if slash.StatusCode() != 301 || slash.HTTPResponse.Header.Get("Location") != "../docs" {
		t.Fatalf("docs/: status %d, Location %q", slash.StatusCode(), slash.HTTPResponse.Header.Get("Location"))
	}
	script, err := c.DocsScriptWithResponse(ctx)
	noErr(t, err)
	if script.StatusCode() != 200 || !strings.Contains(string(script.Body), "rapi-doc") {
		t.Fatalf("docs script: %v status %d", err, script.StatusCode())
	}

	// Accounts.
	users := map[string]goclient.User{}
	for _, name := range []string{"alice", "bob"} {
		r, err := c.RegisterWithResponse(ctx, goclient.NewAccount{Username: name, Password: flowPassword})
		noErr(t, err)
		if r.JSON201 == nil || r.JSON201.Username != name || r.JSON201.Id < 1 {
			t.Fatalf("register %s: %v status %d body %s", name, err, r.StatusCode(), r.Body)
		}
		users[name] = *r.JSON201
	}
	alice, bob := users["alice"], users["bob"]
	dup, err := c.RegisterWithResponse(ctx, goclient.NewAccount{Username: "Alice", Password: flowPassword})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "register taken name", dup.StatusCode(), dup.ApplicationproblemJSON409, 409, goclient.ProblemCodeConflict)
	short, err := d.RegisterWithResponse(ctx, goclient.NewAccount{Username: "carol", Password: "short"})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "register short password", short.StatusCode(), short.ApplicationproblemJSON400, 400, goclient.ProblemCodeInvalid)

	// Sessions.
	tokens := map[string]goclient.Tokens{}
	for _, name := range []string{"alice", "bob"} {
		r, err := c.LoginWithResponse(ctx, goclient.Login{Username: name, Password: flowPassword, DeviceId: name + "-phone", Platform: goclient.LoginPlatformIos})
		noErr(t, err)
		if r.JSON201 == nil || r.JSON201.AccessToken == "" || r.JSON201.TokenType != goclient.TokensTokenTypeBearer {
			t.Fatalf("login %s: %v status %d body %s", name, err, r.StatusCode(), r.Body)
		}
		tokens[name] = *r.JSON201
	}
	wrong, err := c.LoginWithResponse(ctx, goclient.Login{Username: "alice", Password: "wrong password", DeviceId: "d", Platform: goclient.LoginPlatformWeb})
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "login wrong password", wrong.StatusCode(), wrong.ApplicationproblemJSON401, 401, goclient.ProblemCodeUnauthorized)
	refreshed, err := c.RefreshWithResponse(ctx, goclient.Refresh{RefreshToken: tokens["bob"].RefreshToken})
	noErr(t, err)
	if refreshed.JSON200 == nil || refreshed.JSON200.SessionId != tokens["bob"].SessionId {
		t.Fatalf("refresh: %v status %d body %s", err, refreshed.StatusCode(), refreshed.Body)
	}
	tokens["bob"] = *refreshed.JSON200
	asAlice, asBob := bearer(tokens["alice"].AccessToken), bearer(tokens["bob"].AccessToken)

	// Users.
	me, err := c.MeWithResponse(ctx, asAlice)
	noErr(t, err)
	if me.JSON200 == nil || *me.JSON200 != alice {
		t.Fatalf("me: %v status %d body %s", err, me.StatusCode(), me.Body)
	}
	byName, err := c.UserByNameWithResponse(ctx, "BOB", asAlice)
	noErr(t, err)
	if byName.JSON200 == nil || byName.JSON200.Id != bob.Id {
		t.Fatalf("user by name: %v status %d body %s", err, byName.StatusCode(), byName.Body)
	}
	byID, err := c.UserWithResponse(ctx, bob.Id, asAlice)
	noErr(t, err)
	if byID.JSON200 == nil || *byID.JSON200 != bob {
		t.Fatalf("user by id: %v status %d body %s", err, byID.StatusCode(), byID.Body)
	}
	noUser, err := c.UserWithResponse(ctx, bob.Id+1000, asAlice)
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "unknown user id", noUser.StatusCode(), noUser.ApplicationproblemJSON404, 404, goclient.ProblemCodeNotFound)

	// Send, and retry with the same client_msg_id.
	msg := goclient.NewMessage{RecipientId: &bob.Id, ClientMsgId: "flow-1", Type: goclient.MessageTypeText, Content: map[string]any{"text": "hi bob"}}
	sent, err := c.SendMessageWithResponse(ctx, msg, asAlice)
	noErr(t, err)
	if sent.JSON201 == nil || sent.JSON201.SenderId != alice.Id || sent.JSON201.RecipientId == nil || *sent.JSON201.RecipientId != bob.Id {
		t.Fatalf("send: %v status %d body %s", err, sent.StatusCode(), sent.Body)
	}
	retry, err := c.SendMessageWithResponse(ctx, msg, asAlice)
	noErr(t, err)
	if retry.JSON200 == nil || retry.JSON200.Id != sent.JSON201.Id {
		t.Fatalf("retry: %v status %d body %s, want 200 with message %d", err, retry.StatusCode(), retry.Body, sent.JSON201.Id)
	}
	reply := goclient.NewMessage{RecipientId: &alice.Id, ClientMsgId: "flow-2", Type: goclient.MessageTypeCustom, Content: map[string]any{"kind": "wave", "n": 3}}
	second, err := c.SendMessageWithResponse(ctx, reply, asBob)
	noErr(t, err)
	if second.JSON201 == nil {
		t.Fatalf("reply: %v status %d body %s", err, second.StatusCode(), second.Body)
	}

	// Sync: bob's timeline holds both messages, versions gap-free from 1.
	since := int64(0)
	synced, err := c.SyncWithResponse(ctx, &goclient.SyncParams{Since: &since}, asBob)
	noErr(t, err)
	if synced.JSON200 == nil {
		t.Fatalf("sync: %v status %d body %s", err, synced.StatusCode(), synced.Body)
	}
	page := synced.JSON200
	if len(page.Entries) != 2 || page.HasMore || page.HeadVersion != 2 || page.NextSince != 2 {
		t.Fatalf("sync page %+v", page)
	}
	for i, e := range page.Entries {
		want := []int64{sent.JSON201.Id, second.JSON201.Id}[i]
		if e.Version != int64(i+1) || e.Kind != goclient.EntryKindMessage || e.Message == nil || e.Message.Id != want {
			t.Fatalf("sync entry %d: %+v", i, e)
		}
	}
	limit := 1
	paged, err := c.SyncWithResponse(ctx, &goclient.SyncParams{Since: &since, Limit: &limit}, asBob)
	noErr(t, err)
	if paged.JSON200 == nil || len(paged.JSON200.Entries) != 1 || !paged.JSON200.HasMore || paged.JSON200.NextSince != 1 {
		t.Fatalf("sync limit 1: %v status %d body %s", err, paged.StatusCode(), paged.Body)
	}

	// History: newest first, then older by cursor.
	conv := sent.JSON201.ConversationId
	hist, err := c.HistoryWithResponse(ctx, conv, &goclient.HistoryParams{Limit: &limit}, asAlice)
	noErr(t, err)
	if hist.JSON200 == nil || len(hist.JSON200.Messages) != 1 || hist.JSON200.Messages[0].Id != second.JSON201.Id || hist.JSON200.NextCursor == nil {
		t.Fatalf("history: %v status %d body %s", err, hist.StatusCode(), hist.Body)
	}
	older, err := c.HistoryWithResponse(ctx, conv, &goclient.HistoryParams{Before: hist.JSON200.NextCursor, Limit: &limit}, asAlice)
	noErr(t, err)
	if older.JSON200 == nil || len(older.JSON200.Messages) != 1 || older.JSON200.Messages[0].Id != sent.JSON201.Id {
		t.Fatalf("history before: %v status %d body %s", err, older.StatusCode(), older.Body)
	}
	content, _ := json.Marshal(older.JSON200.Messages[0].Content)
	if string(content) != `{"text":"hi bob"}` {
		t.Fatalf("history content %s", content)
	}

	// Conversations: alice's list, read, mute, recall, delete.
	convs, err := c.ListConversationsWithResponse(ctx, nil, asAlice)
	noErr(t, err)
	if convs.JSON200 == nil || len(convs.JSON200.Conversations) != 1 || convs.JSON200.Conversations[0].Id != conv ||
		convs.JSON200.Conversations[0].Type != goclient.ConversationTypeDirect || convs.JSON200.Conversations[0].UnreadCount != 1 {
		t.Fatalf("conversations: %v status %d body %s", err, convs.StatusCode(), convs.Body)
	}
	read, err := c.MarkConversationReadWithResponse(ctx, conv, goclient.ReadRequest{Version: 2}, asAlice)
	noErr(t, err)
	if read.JSON200 == nil || read.JSON200.UnreadCount != 0 || read.JSON200.ReadVersion != 2 {
		t.Fatalf("mark read: %v status %d body %s", err, read.StatusCode(), read.Body)
	}
	muted, err := c.MuteConversationWithResponse(ctx, conv, goclient.MuteRequest{Muted: true}, asAlice)
	noErr(t, err)
	if muted.JSON200 == nil || !muted.JSON200.Muted {
		t.Fatalf("mute: %v status %d body %s", err, muted.StatusCode(), muted.Body)
	}
	notSender, err := c.RecallMessageWithResponse(ctx, sent.JSON201.Id, asBob)
	noErr(t, err)
	problem(t, "recall of another's message", notSender.StatusCode(), notSender.ApplicationproblemJSON403, 403, goclient.ProblemCodeForbidden)
	recalled, err := c.RecallMessageWithResponse(ctx, sent.JSON201.Id, asAlice)
	noErr(t, err)
	if recalled.JSON200 == nil || recalled.JSON200.RecalledAt == nil {
		t.Fatalf("recall: %v status %d body %s", err, recalled.StatusCode(), recalled.Body)
	}
	deleted, err := c.DeleteConversationWithResponse(ctx, conv, asAlice)
	noErr(t, err)
	if deleted.StatusCode() != 204 {
		t.Fatalf("delete conversation: status %d body %s", deleted.StatusCode(), deleted.Body)
	}
	gone, err := c.GetConversationWithResponse(ctx, conv, asAlice)
	noErr(t, err)
	problem(t, "deleted conversation", gone.StatusCode(), gone.ApplicationproblemJSON404, 404, goclient.ProblemCodeNotFound)

	// Error cases.
	badJSON, err := d.SendMessageWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"recipient_id": `), asAlice)
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "malformed JSON", badJSON.StatusCode(), badJSON.ApplicationproblemJSON400, 400, goclient.ProblemCodeInvalid)
	unknownID := bob.Id + 1000
	unknown := goclient.NewMessage{RecipientId: &unknownID, ClientMsgId: "flow-3", Type: goclient.MessageTypeText, Content: map[string]any{"text": "anyone?"}}
	noRecipient, err := c.SendMessageWithResponse(ctx, unknown, asAlice)
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "unknown recipient", noRecipient.StatusCode(), noRecipient.ApplicationproblemJSON404, 404, goclient.ProblemCodeNotFound)
	badToken, err := c.MeWithResponse(ctx, bearer("not.a.token"))
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "bad token", badToken.StatusCode(), badToken.ApplicationproblemJSON401, 401, goclient.ProblemCodeUnauthorized)
	if h := badToken.HTTPResponse.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Fatalf("401 without a Bearer challenge: %q", h)
	}
	noToken, err := d.SyncWithResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	problem(t, "no token", noToken.StatusCode(), noToken.ApplicationproblemJSON401, 401, goclient.ProblemCodeUnauthorized)
	notMine, err := c.HistoryWithResponse(ctx, fmt.Sprintf("d:%d:%d", bob.Id, bob.Id+1000), nil, asAlice)
	if err != nil {
		t.Fatal(err)
	}
	if notMine.ApplicationproblemJSON404 == nil && notMine.ApplicationproblemJSON403 == nil {
		t.Fatalf("history of another conversation: status %d body %s", notMine.StatusCode(), notMine.Body)
	}
}

// noRoute checks that a path outside the API is a 404 problem document.
func noRoute(t *testing.T, base string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(base + "/v1/no-such-route")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p goclient.Problem
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 404 || p.Code != goclient.ProblemCodeNotFound {
		t.Fatalf("unknown route: status %d body %s", resp.StatusCode, body)
	}
}
