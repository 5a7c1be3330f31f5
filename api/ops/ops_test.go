package ops

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/switches"
)

const (
	adminSecret = "admin-secret-0123456789"
	pushSecret  = "push-secret-0123456789"
)

// keys knows an admin key and a push-only key; revoke ends the admin key.
type keys struct {
	mu      sync.Mutex
	revoked bool
}

func (k *keys) KeyBySecret(_ context.Context, secret string) (*tether.KeyCaller, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case secret == adminSecret && !k.revoked:
		return &tether.KeyCaller{KeyID: "k_admin", Scopes: []string{tether.ScopeAdmin}}, nil
	case secret == pushSecret:
		return &tether.KeyCaller{KeyID: "k_push", Scopes: []string{tether.ScopePush}}, nil
	}
	return nil, tether.Errorf(tether.EUNAUTHORIZED, "invalid API key")
}

// published records the jobs the page sends.
type published struct {
	mu   sync.Mutex
	jobs []stream.NodeJob
}

func (p *published) Publish(_ context.Context, jobs []stream.NodeJob) error {
	p.mu.Lock()
	p.jobs = append(p.jobs, jobs...)
	p.mu.Unlock()
	return nil
}

func (p *published) Broadcast(context.Context, job.Job) (string, error) { return "", nil }

type fixture struct {
	srv  *httptest.Server
	keys *keys
	pub  *published
	sw   *switches.Service
	reg  *route.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	f := &fixture{keys: &keys{}, pub: &published{}, reg: route.NewRegistry(rdb, prefix, time.Minute)}
	f.sw = &switches.Service{Store: switches.NewMemoryStore(), Registry: switches.NewRegistry(switches.Catalogue)}
	h := New(Deps{Keys: f.keys, Switches: f.sw, Registry: f.reg, Streams: f.pub, Process: "test",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.Handle(Prefix, h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browserClient(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in with secret and returns the page's CSRF token.
func (f *fixture) login(t *testing.T, c *http.Client, secret string) (status int, csrf string) {
	t.Helper()
	res, err := c.PostForm(f.srv.URL+"/ops/login", url.Values{"key": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return res.StatusCode, ""
	}
	res, err = c.Get(f.srv.URL + "/ops/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("the page after login has no CSRF token:\n%s", b)
	}
	return http.StatusSeeOther, string(m[1])
}

func do(t *testing.T, c *http.Client, method, u, body string, hdr map[string]string) (*http.Response, problem.Problem) {
	t.Helper()
	rq, _ := http.NewRequest(method, u, strings.NewReader(body))
	for k, v := range hdr {
		rq.Header.Set(k, v)
	}
	res, err := c.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p problem.Problem
	if strings.HasPrefix(res.Header.Get("Content-Type"), problem.ContentType) {
		_ = json.NewDecoder(res.Body).Decode(&p)
	}
	return res, p
}

func TestOps_EveryEndpointRefusesWithoutAnAdminLogin(t *testing.T) {
	f := newFixture(t)
	c := browserClient(t)
	for _, e := range []struct{ method, path string }{
		{"GET", "/ops/api/state"},
		{"GET", "/ops/api/live/cluster"},
		{"POST", "/ops/api/switches/presence"},
		{"POST", "/ops/api/nodes/n1/drain"},
		{"POST", "/ops/api/nodes/n1/hot-restart"},
		{"POST", "/ops/api/kick"},
		{"POST", "/ops/logout"},
	} {
		res, p := do(t, c, e.method, f.srv.URL+e.path, `{"reason":"x","value":"off","user":"1"}`, nil)
		if res.StatusCode != 401 || p.Code != tether.EUNAUTHORIZED || res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s without login: %d %+v", e.method, e.path, res.StatusCode, p)
		}
	}
	// A key without the admin scope is refused, at login and in the header.
	if st, _ := f.login(t, c, pushSecret); st != 401 {
		t.Fatalf("login with a push key: %d, want 401", st)
	}
	res, p := do(t, c, "GET", f.srv.URL+"/ops/api/state", "", map[string]string{"X-API-Key": pushSecret})
	if res.StatusCode != 403 || p.Code != tether.EFORBIDDEN {
		t.Fatalf("push key in X-API-Key: %d %+v, want 403", res.StatusCode, p)
	}
	// The page itself is only the login form.
	res, _ = do(t, c, "GET", f.srv.URL+"/ops/", "", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET /ops/: %d", res.StatusCode)
	}
}

func TestOps_LoginGivesAStrictHttpOnlyCookieAndActionsNeedItsCSRFToken(t *testing.T) {
	f := newFixture(t)
	c := browserClient(t)
	res, err := c.PostForm(f.srv.URL+"/ops/login", url.Values{"key": {adminSecret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ck := res.Header.Get("Set-Cookie")
	if res.StatusCode != 303 || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || !strings.Contains(ck, "Path=/ops/") {
		t.Fatalf("login: %d, cookie %q", res.StatusCode, ck)
	}
	_, csrf := f.login(t, c, adminSecret)
	body := `{"value":"off","reason":"load shedding"}`
	u := f.srv.URL + "/ops/api/switches/presence"
	for name, hdr := range map[string]map[string]string{
		"no token":     nil,
		"wrong token":  {"X-CSRF-Token": "nope"},
		"other origin": {"X-CSRF-Token": csrf, "Origin": "http://evil.example"},
	} {
		res, p := do(t, c, "POST", u, body, hdr)
		if res.StatusCode != 403 || p.Code != tether.EFORBIDDEN {
			t.Errorf("%s: %d %+v, want 403", name, res.StatusCode, p)
		}
	}
	if !f.sw.Registry.Enabled(switches.Presence, switches.Subject{}) {
		t.Fatal("a refused request changed the switch")
	}
	res, _ = do(t, c, "POST", u, body, map[string]string{"X-CSRF-Token": csrf, "Origin": f.srv.URL})
	if res.StatusCode != 200 || f.sw.Registry.Enabled(switches.Presence, switches.Subject{}) {
		t.Fatalf("with the token: %d, presence still on", res.StatusCode)
	}
	// A state change needs a reason.
	res, p := do(t, c, "POST", u, `{"value":"on","reason":"  "}`, map[string]string{"X-CSRF-Token": csrf})
	if res.StatusCode != 400 || p.Code != tether.EINVALID {
		t.Fatalf("without a reason: %d %+v", res.StatusCode, p)
	}
	// Logout ends the session.
	res, _ = do(t, c, "POST", f.srv.URL+"/ops/logout", "", map[string]string{"X-CSRF-Token": csrf})
	if res.StatusCode != 204 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := do(t, c, "GET", f.srv.URL+"/ops/api/state", "", nil); res.StatusCode != 401 {
		t.Fatalf("after logout: %d", res.StatusCode)
	}
}

func TestOps_RevokingTheKeyEndsItsSessions(t *testing.T) {
	f := newFixture(t)
	c := browserClient(t)
	f.login(t, c, adminSecret)
	if res, _ := do(t, c, "GET", f.srv.URL+"/ops/api/state", "", nil); res.StatusCode != 200 {
		t.Fatalf("state: %d", res.StatusCode)
	}
	f.keys.mu.Lock()
	f.keys.revoked = true
	f.keys.mu.Unlock()
	if res, _ := do(t, c, "GET", f.srv.URL+"/ops/api/state", "", nil); res.StatusCode != 401 {
		t.Fatalf("state after the key was revoked: %d, want 401", res.StatusCode)
	}
}

func TestOps_FailedLoginsAreLimited(t *testing.T) {
	f := newFixture(t)
	c := browserClient(t)
	for range maxFailures {
		if st, _ := f.login(t, c, "guess"); st != 401 {
			t.Fatalf("wrong key: %d", st)
		}
	}
	res, err := c.PostForm(f.srv.URL+"/ops/login", url.Values{"key": {adminSecret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures even the right key: %d, want 429 with Retry-After", maxFailures, res.StatusCode)
	}
}

func TestOps_NodeRequestsGoToReadyNodesOnlyAndKicksToTheUsersNodes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hdr := map[string]string{"X-API-Key": adminSecret}
	if err := f.reg.Heartbeat(ctx, route.Info{ID: "n1", HotRestart: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Heartbeat(ctx, route.Info{ID: "n2"}); err != nil { // no upgrade socket
		t.Fatal(err)
	}
	if err := f.reg.SetNodeStatus(ctx, route.Info{ID: "n3", State: route.StateDraining}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/ops/api/nodes/n1/drain", 202},
		{"/ops/api/nodes/n1/hot-restart", 202},
		{"/ops/api/nodes/n2/hot-restart", 409},
		{"/ops/api/nodes/n3/drain", 409},
		{"/ops/api/nodes/nope/drain", 404},
	} {
		res, p := do(t, http.DefaultClient, "POST", f.srv.URL+c.path, `{"reason":"maintenance"}`, hdr)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d %+v, want %d", c.path, res.StatusCode, p, c.want)
		}
	}
	if _, _, err := f.reg.AddSession(ctx, 7, route.Session{DeviceID: "d", NodeID: "n2", Platform: "ios", ConnID: "c1"}); err != nil {
		t.Fatal(err)
	}
	res, p := do(t, http.DefaultClient, "POST", f.srv.URL+"/ops/api/kick", `{"user":"7","reason":"abuse"}`, hdr)
	if res.StatusCode != 200 {
		t.Fatalf("kick: %d %+v", res.StatusCode, p)
	}
	f.pub.mu.Lock()
	defer f.pub.mu.Unlock()
	var kinds []string
	for _, j := range f.pub.jobs {
		kinds = append(kinds, j.Node+":"+string(j.Job.Kind))
		if j.Job.Kind == job.KindDrain && (j.Job.ExpiresMS == 0 || !strings.Contains(j.Job.Reason, "maintenance")) {
			t.Errorf("drain job %+v: no expiry or reason", j.Job)
		}
		if j.Job.Kind == job.KindKick && (j.Job.Code != route.CodeKicked || len(j.Job.Targets) != 1 || j.Job.Targets[0].UserID != 7) {
			t.Errorf("kick job %+v", j.Job)
		}
	}
	if strings.Join(kinds, ",") != "n1:drain,n1:hot_restart,n2:kick" {
		t.Fatalf("jobs sent: %v", kinds)
	}
}
