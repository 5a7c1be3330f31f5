package stack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/problem"
)

// startAPIWithBulkheads starts an API (admin key, MariaDB, Redis) whose
// bulkheads are sized by spec.
func startAPIWithBulkheads(t *testing.T, spec string, adjust ...func(*config.APIConfig)) *API {
	t.Helper()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, _ := keyPair(t)
	ac := apiConfig(t, dsn, prefix, priv)
	ac.PushAPI.AdminKey = stackAdminKey
	ac.Bulkheads.Spec = spec
	for _, f := range adjust {
		f(&ac)
	}
	a, err := StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	return a
}

// problemOf reads a problem document answer: status, code and Retry-After.
func problemOf(t *testing.T, res *http.Response) (int, string, int) {
	t.Helper()
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p problem.Problem
	if res.Header.Get("Content-Type") == problem.ContentType {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("problem %s: %v", b, err)
		}
	}
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	return res.StatusCode, p.Code, retry
}

func keyRequest(t *testing.T, base, key, method, path, body string) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A saturated push API sheds its own requests at once with 503 overloaded
// and Retry-After, while 1:1 sends, sync and the rest of the API still
// succeed: every worker of the push API's pool is taken (as by requests
// stuck on a slow dependency) and its queue is full.
func TestBulkheads_SaturatedPushAPIShedsWhileChatStillSucceeds(t *testing.T) {
	t.Parallel()
	a := startAPIWithBulkheads(t, strings.Replace(bulkhead.DefaultSpec, "push_api=8/32", "push_api=2/1", 1),
		func(c *config.APIConfig) { c.Bulkheads.Wait = 30 * time.Second })
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rest := client.NewAPI(base, nil)
	bob, err := rest.Register(ctx, "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "alice", password, "alice-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	push := `{"user_ids":[` + strconv.FormatInt(bob.ID, 10) + `],"payload":{"n":1}}`

	pool := a.pools.Pool(bulkhead.PushAPI)
	var releases []func()
	for range pool.Size().Workers {
		release, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	// One request waits in the queue (the queue wait is 30 s here).
	queued := make(chan *http.Response, 1)
	go func() { queued <- keyRequest(t, base, key.Secret, "POST", "/v1/push", push) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return pool.Queued() == 1 }, "a push request queued")

	st, code, retry := problemOf(t, keyRequest(t, base, key.Secret, "POST", "/v1/push", push))
	if st != 503 || code != tether.EOVERLOADED || retry < 1 {
		t.Fatalf("push over a full pool: %d %q Retry-After %d, want 503 overloaded with Retry-After", st, code, retry)
	}
	// Chat goes on: a 1:1 send, sync and another route, each in its own pool.
	if _, created, err := rest.Send(ctx, tok.AccessToken, bob.ID, "c1", "text", json.RawMessage(`{"text":"still here"}`)); err != nil || !created {
		t.Fatalf("send while the push API is saturated: created %v, %v", created, err)
	}
	if page, err := rest.Sync(ctx, tok.AccessToken, 0, 10); err != nil || len(page.Entries) == 0 {
		t.Fatalf("sync while the push API is saturated: %v", err)
	}
	if _, err := rest.Me(ctx, tok.AccessToken); err != nil {
		t.Fatalf("me while the push API is saturated: %v", err)
	}
	// The admin metrics show the pool busy, queued and shedding.
	_, metrics := get(t, "http://"+a.AdminAddr+"/metrics")
	for _, want := range []string{
		`tether_bulkhead_busy{pool="push_api"} 2`,
		`tether_bulkhead_queued{pool="push_api"} 1`,
		`tether_bulkhead_shed_total{pool="push_api"} 1`,
		`tether_bulkhead_shed_total{pool="send"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A freed worker serves the queued request, and the push API recovers.
	releases[0]()
	if st, code, _ := problemOf(t, <-queued); st != 202 {
		t.Fatalf("queued push after a worker was freed: %d %q", st, code)
	}
	releases[1]()
	if st, code, _ := problemOf(t, keyRequest(t, base, key.Secret, "POST", "/v1/push", push)); st != 202 {
		t.Fatalf("push after the pool drained: %d %q", st, code)
	}
}
