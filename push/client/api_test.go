package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tetherim/tether"
)

// recordingServer answers every request with status and body and records
// what it was asked.
type recordingServer struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	method, path, rawQuery, auth string
	body                         map[string]any
}

func serve(t *testing.T, status func(r *http.Request) int, body string) (*API, *recordingServer) {
	t.Helper()
	rs := &recordingServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		rs.mu.Lock()
		rs.requests = append(rs.requests, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), m})
		rs.mu.Unlock()
		code := status(r)
		if code >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return NewAPI(srv.URL+"/", nil), rs
}

func fixed(code int) func(*http.Request) int { return func(*http.Request) int { return code } }

func (rs *recordingServer) last() recorded {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.requests[len(rs.requests)-1]
}

func TestAPI_ProblemResponseBecomesTypedProblemError(t *testing.T) {
	a, _ := serve(t, fixed(409), `{"type":"https://tether.im/problems/conflict","title":"Conflict","status":409,"detail":"username taken","code":"conflict"}`)
	_, err := a.Register(context.Background(), "alice", "correct horse")
	var p *ProblemError
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want *ProblemError", err)
	}
	if p.Status != 409 || p.Code != tether.ECONFLICT || p.Title != "Conflict" || p.Detail != "username taken" || p.Type == "" {
		t.Fatalf("problem = %+v", p)
	}
	if p.Temporary() || ErrorCode(err) != tether.ECONFLICT {
		t.Fatalf("Temporary %v ErrorCode %q", p.Temporary(), ErrorCode(err))
	}
}

func TestAPI_NonProblemErrorBodyStillTyped(t *testing.T) {
	a, _ := serve(t, fixed(502), `<html>bad gateway</html>`)
	_, err := a.Me(context.Background(), "tok")
	var p *ProblemError
	if !errors.As(err, &p) || p.Status != 502 || p.Code != tether.EUNAVAILABLE || p.Title != "Bad Gateway" || !p.Temporary() {
		t.Fatalf("err = %#v", err)
	}
}

// A bare 429 (a proxy's limiter, say) is what the server means by it: rate
// limited, worth a retry later; not "unavailable".
func TestAPI_Bare429ReadsAsRateLimited(t *testing.T) {
	a, _ := serve(t, fixed(429), `Too Many Requests`)
	_, err := a.Me(context.Background(), "tok")
	var p *ProblemError
	if !errors.As(err, &p) || p.Status != 429 || p.Code != tether.ERATELIMITED || !p.Temporary() {
		t.Fatalf("err = %#v", err)
	}
}

func TestAPI_MalformedSuccessBodyIsAnError(t *testing.T) {
	a, _ := serve(t, fixed(200), `{"entries":`)
	if _, err := a.Sync(context.Background(), "tok", 0, 10); err == nil {
		t.Fatal("Sync accepted a truncated body")
	}
}

func TestAPI_SendDistinguishesCreatedFromRetry(t *testing.T) {
	code := 201
	a, rs := serve(t, func(*http.Request) int { return code }, `{"id":5,"client_msg_id":"m-1","type":"text","content":{"text":"hi"}}`)
	m, created, err := a.Send(context.Background(), "tok", 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
	if err != nil || !created || m.ID != 5 {
		t.Fatalf("first Send = %+v, %v, %v", m, created, err)
	}
	r := rs.last()
	if r.method != "POST" || r.path != "/v1/messages" || r.auth != "Bearer tok" ||
		r.body["recipient_id"] != float64(8) || r.body["client_msg_id"] != "m-1" || r.body["type"] != "text" {
		t.Fatalf("request = %+v", r)
	}
	if c, ok := r.body["content"].(map[string]any); !ok || c["text"] != "hi" {
		t.Fatalf("content sent as %#v, want the JSON object itself", r.body["content"])
	}
	code = 200
	if _, created, err := a.Send(context.Background(), "tok", 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`)); err != nil || created {
		t.Fatalf("retry Send = created %v, %v; want false, nil", created, err)
	}
}

func TestAPI_RequestsUseContractPathsQueriesAndBodies(t *testing.T) {
	a, rs := serve(t, fixed(200), `{}`)
	ctx := context.Background()
	check := func(method, path, query, auth string) recorded {
		t.Helper()
		r := rs.last()
		if r.method != method || r.path != path || r.rawQuery != query || r.auth != auth {
			t.Fatalf("request %s %s?%s auth %q, want %s %s?%s auth %q", r.method, r.path, r.rawQuery, r.auth, method, path, query, auth)
		}
		return r
	}
	if _, err := a.Login(ctx, "alice", "pw", "dev", "ios"); err != nil {
		t.Fatal(err)
	}
	r := check("POST", "/v1/sessions", "", "")
	if r.body["username"] != "alice" || r.body["password"] != "pw" || r.body["device_id"] != "dev" || r.body["platform"] != "ios" {
		t.Fatalf("login body %v", r.body)
	}
	if _, err := a.Refresh(ctx, "rt"); err != nil {
		t.Fatal(err)
	}
	if r := check("POST", "/v1/sessions/refresh", "", ""); r.body["refresh_token"] != "rt" {
		t.Fatalf("refresh body %v", r.body)
	}
	if _, err := a.Register(ctx, "bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if r := check("POST", "/v1/accounts", "", ""); r.body["username"] != "bob" {
		t.Fatalf("register body %v", r.body)
	}
	if _, err := a.Me(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	check("GET", "/v1/users/me", "", "Bearer tok")
	if _, err := a.UserByName(ctx, "tok", "a b/c"); err != nil {
		t.Fatal(err)
	}
	check("GET", "/v1/users/by-name/a%20b%2Fc", "", "Bearer tok")
	if _, err := a.User(ctx, "tok", 42); err != nil {
		t.Fatal(err)
	}
	check("GET", "/v1/users/42", "", "Bearer tok")
	if _, err := a.Sync(ctx, "tok", 42, 7); err != nil {
		t.Fatal(err)
	}
	check("GET", "/v1/sync", "limit=7&since=42", "Bearer tok")
	if _, err := a.History(ctx, "tok", "d:1:2", tether.HistoryQuery{Before: "cur", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	check("GET", "/v1/conversations/d:1:2/messages", "before=cur&limit=5", "Bearer tok")
}

func TestAPI_UserByNameNotFoundIsProblem(t *testing.T) {
	a, _ := serve(t, fixed(404), `{"title":"Not Found","status":404,"detail":"no such user","code":"not_found"}`)
	if _, err := a.UserByName(context.Background(), "tok", "nobody"); ErrorCode(err) != tether.ENOTFOUND {
		t.Fatalf("err = %v, want not_found", err)
	}
}

func TestAPI_UserDecodesTheAccount(t *testing.T) {
	a, rs := serve(t, fixed(200), `{"id":7,"username":"bob","created_at":"2025-01-02T03:04:05Z"}`)
	u, err := a.User(context.Background(), "tok", 7)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != 7 || u.Username != "bob" || u.CreatedAt.IsZero() {
		t.Fatalf("user = %+v", u)
	}
	if r := rs.last(); r.method != "GET" || r.path != "/v1/users/7" || r.auth != "Bearer tok" {
		t.Fatalf("request = %+v", r)
	}
}

func TestAPI_UserNotFoundIsProblem(t *testing.T) {
	a, _ := serve(t, fixed(404), `{"title":"Not Found","status":404,"detail":"No such user.","code":"not_found"}`)
	if _, err := a.User(context.Background(), "tok", 99); ErrorCode(err) != tether.ENOTFOUND {
		t.Fatalf("err = %v, want not_found", err)
	}
}
