package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/token"
)

func convPath(a, b int64, suffix string) string {
	return fmt.Sprintf("/v1/conversations/%s%s", url.PathEscape(fmt.Sprintf("d:%d:%d", min(a, b), max(a, b))), suffix)
}

func TestConversations_ListReadMuteDeleteOverHTTP(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b, c := e.signup("alice"), e.signup("bob"), e.signup("carol")
		e.send(a, b.ID, "a1", "one")
		m2, _ := e.send(a, b.ID, "a2", "two")
		e.send(c, b.ID, "c1", "from carol")

		var page tether.ConversationPage
		e.do(req{Method: "GET", Path: "/v1/conversations?limit=1", Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Conversations) != 1 || page.Conversations[0].PeerID != c.ID || page.NextCursor == "" {
			t.Fatalf("first page %+v", page)
		}
		cursor := page.NextCursor
		page = tether.ConversationPage{}
		e.do(req{Method: "GET", Path: "/v1/conversations?limit=1&cursor=" + cursor, Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Conversations) != 1 || page.Conversations[0].PeerID != a.ID || page.Conversations[0].UnreadCount != 2 || page.NextCursor != "" {
			t.Fatalf("second page %+v", page)
		}
		if lm := page.Conversations[0].LastMessage; lm == nil || lm.ID != m2.ID || string(lm.Content) != `{"text":"two"}` {
			t.Fatalf("last message %+v", lm)
		}
		e.do(req{Method: "GET", Path: "/v1/conversations?cursor=bad!", Token: b.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "GET", Path: "/v1/conversations"}).wantProblem(t, 401, tether.EUNAUTHORIZED)

		path := convPath(a.ID, b.ID, "")
		var conv tether.Conversation
		e.do(req{Method: "GET", Path: path, Token: b.Tokens.AccessToken}).decode(t, 200, &conv)
		if conv.Type != tether.ConversationDirect || conv.UnreadCount != 2 {
			t.Fatalf("conversation %+v", conv)
		}
		e.do(req{Method: "GET", Path: path, Token: c.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: "/v1/conversations/nonsense", Token: b.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)

		// Read up to the first message: one unread left; a version past the head is 400.
		e.do(req{Method: "POST", Path: path + "/read", Token: b.Tokens.AccessToken, Body: map[string]any{"version": 1}}).decode(t, 200, &conv)
		if conv.ReadVersion != 1 || conv.UnreadCount != 1 {
			t.Fatalf("after read %+v", conv)
		}
		e.do(req{Method: "POST", Path: path + "/read", Token: b.Tokens.AccessToken, Body: map[string]any{"version": 99}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: path + "/read", Token: b.Tokens.AccessToken, Body: map[string]any{"version": 0}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: path + "/read", Token: b.Tokens.AccessToken, Body: map[string]any{}}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: path + "/read", Token: c.Tokens.AccessToken, Body: map[string]any{"version": 1}}).wantProblem(t, 404, tether.ENOTFOUND)
		// Alice's timeline got the receipt.
		var sync tether.SyncPage
		e.do(req{Method: "GET", Path: "/v1/sync?since=2", Token: a.Tokens.AccessToken}).decode(t, 200, &sync)
		if len(sync.Entries) != 1 || sync.Entries[0].Kind != tether.EntryRead {
			t.Fatalf("alice's sync %+v", sync)
		}
		var ev tether.ReadEvent
		if err := json.Unmarshal(sync.Entries[0].Event, &ev); err != nil || ev.ReaderID != b.ID || ev.Version != 0 {
			t.Fatalf("receipt %s", sync.Entries[0].Event)
		}

		e.do(req{Method: "PUT", Path: path + "/mute", Token: b.Tokens.AccessToken, Body: map[string]any{"muted": true}}).decode(t, 200, &conv)
		if !conv.Muted {
			t.Fatalf("after mute %+v", conv)
		}
		e.do(req{Method: "PUT", Path: path + "/mute", Token: b.Tokens.AccessToken, Body: map[string]any{"muted": "yes"}}).wantProblem(t, 400, tether.EINVALID)

		e.do(req{Method: "DELETE", Path: path, Token: b.Tokens.AccessToken}).decode(t, 204, nil)
		e.do(req{Method: "DELETE", Path: path, Token: b.Tokens.AccessToken}).decode(t, 204, nil)
		e.do(req{Method: "GET", Path: path, Token: b.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "DELETE", Path: path, Token: c.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "GET", Path: "/v1/conversations", Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		if len(page.Conversations) != 1 || page.Conversations[0].PeerID != c.ID {
			t.Fatalf("list after delete %+v", page)
		}
		// History stays readable.
		var hist tether.HistoryPage
		e.do(req{Method: "GET", Path: path + "/messages", Token: b.Tokens.AccessToken}).decode(t, 200, &hist)
		if len(hist.Messages) != 2 {
			t.Fatalf("history after delete %+v", hist)
		}
	})
}

func TestRecall_OverHTTP(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b, c := e.signup("alice"), e.signup("bob"), e.signup("carol")
		m, _ := e.send(a, b.ID, "a1", "secret")
		path := "/v1/messages/" + strconv.FormatInt(m.ID, 10) + "/recall"

		e.do(req{Method: "POST", Path: path, Token: b.Tokens.AccessToken}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.do(req{Method: "POST", Path: path, Token: c.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)
		e.do(req{Method: "POST", Path: path}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "POST", Path: "/v1/messages/0/recall", Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: "/v1/messages/x/recall", Token: a.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		e.do(req{Method: "POST", Path: "/v1/messages/999999/recall", Token: a.Tokens.AccessToken}).wantProblem(t, 404, tether.ENOTFOUND)

		var got tether.Message
		e.do(req{Method: "POST", Path: path, Token: a.Tokens.AccessToken}).decode(t, 200, &got)
		if got.RecalledAt == nil || string(got.Content) != `{}` {
			t.Fatalf("recalled %+v", got)
		}
		e.do(req{Method: "POST", Path: path, Token: a.Tokens.AccessToken}).decode(t, 200, &got)
		var sync tether.SyncPage
		e.do(req{Method: "GET", Path: "/v1/sync", Token: b.Tokens.AccessToken}).decode(t, 200, &sync)
		if len(sync.Entries) != 2 || sync.Entries[1].Kind != tether.EntryRecall || string(sync.Entries[0].Message.Content) != `{}` {
			t.Fatalf("bob's sync after recalling twice %+v", sync)
		}
	})
}

func TestSend_ContentIsCheckedByType(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		a, b := e.signup("alice"), e.signup("bob")
		post := func(cid, typ string, content any) resp {
			return e.do(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken, Body: map[string]any{
				"recipient_id": b.ID, "client_msg_id": cid, "type": typ, "content": content,
			}})
		}
		p := post("1", "text", map[string]any{"text": "hi", "color": "red"}).wantProblem(t, 400, tether.EINVALID)
		if p.Detail != `content: unknown field "color" in a text message (allowed: text, mentions)` {
			t.Fatalf("detail %q", p.Detail)
		}
		p = post("2", "image", map[string]any{"url": "file:///etc/passwd"}).wantProblem(t, 400, tether.EINVALID)
		if p.Detail != "content.url must be an absolute http or https URL" {
			t.Fatalf("detail %q", p.Detail)
		}
		post("3", "file", map[string]any{"url": "https://x.example/r.pdf"}).wantProblem(t, 400, tether.EINVALID)
		post("4", "custom", []int{1}).wantProblem(t, 400, tether.EINVALID)
		post("5", "image", map[string]any{"url": "https://x.example/a.png", "width": 10, "height": 10}).decode(t, 201, nil)
		post("6", "file", map[string]any{"url": "https://x.example/r.pdf", "name": "r.pdf", "size": 10}).decode(t, 201, nil)
		post("7", "text", map[string]any{"text": "hi @bob", "mentions": []int64{b.ID}}).decode(t, 201, nil)
	})
}

// Without a conversation service the conversation routes answer 503, not a panic.
func TestConversations_NotConfiguredIs503(t *testing.T) {
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
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/v1/conversations", ""},
		{"GET", "/v1/conversations/d:1:2", ""},
		{"DELETE", "/v1/conversations/d:1:2", ""},
		{"POST", "/v1/conversations/d:1:2/read", `{"version":1}`},
		{"PUT", "/v1/conversations/d:1:2/mute", `{"muted":true}`},
	} {
		r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
		r.Header.Set("Authorization", "Bearer "+tok)
		if rq.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), tether.EUNAVAILABLE) {
			t.Fatalf("%s %s: status %d: %s", rq.method, rq.path, w.Code, w.Body)
		}
	}
}
