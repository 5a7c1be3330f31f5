package rest

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/pushapi"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

const testAdminKey = "test-admin-key-0123456789abcdef0123456789"

// pushEnv is env with the push API wired to a real Redis.
type pushEnv struct {
	*env
	svc *pushapi.Service
}

// eachDriverPush runs fn per database with the push API configured.
func eachDriverPush(t *testing.T, fn func(t *testing.T, e *pushEnv)) {
	t.Parallel()
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newPushEnv(t, d))
		})
	}
}

func newPushEnv(t *testing.T, driver string) *pushEnv {
	t.Helper()
	ctx := t.Context()
	dsn := filepath.Join(t.TempDir(), "tether.db")
	if driver == store.DriverMySQL {
		dsn = testenv.MySQL(t)
	}
	m := metrics.New()
	db, err := store.Open(ctx, store.Config{Driver: driver, DSN: dsn}, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	reg := route.NewRegistry(rdb, prefix, 15*time.Second)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	backend := pushapi.NewRedisBackend(rdb, reg, stream.NewRedis(rdb, prefix, stream.Caps{}))
	svc := pushapi.New(pushapi.Config{AdminKey: testAdminKey, DefaultRateLimit: 1000}, store.NewAPIKeyService(db), nil, backend, backend, m, log)
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{
		Auth:     store.NewAuthService(db, token.NewSigner(priv, 15*time.Minute), 24*time.Hour, nil),
		Messages: store.NewMessageService(db, nil),
		Profiles: store.NewProfileService(db),
		Social:   store.NewSocialService(db),
		Verifier: token.NewVerifier(pub),
		Sessions: store.NewSessionService(db, nil, nil, 24*time.Hour),
		APIKeys:  svc,
		Push:     svc,
		Metrics:  m,
		Log:      log,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, metrics: m, priv: priv, handler: s.Handler(), doc: s.doc}
	if e.router, err = gorillamux.NewRouter(s.doc); err != nil {
		t.Fatal(err)
	}
	return &pushEnv{env: e, svc: svc}
}

// doKey serves r with an API key and checks the response against the spec.
// API key routes challenge with APIKey, not Bearer: that one check of the
// shared harness is made here instead.
func (e *pushEnv) doKey(key string, r req) resp {
	e.t.Helper()
	if key != "" {
		if r.Header == nil {
			r.Header = map[string]string{}
		}
		r.Header[APIKeyHeader] = key
	}
	out, err := e.serve(r)
	if err != nil {
		e.t.Fatal(err)
	}
	checked := out
	if out.Status == http.StatusUnauthorized {
		if got := out.Header.Get("WWW-Authenticate"); got != keyChallenge {
			e.t.Fatalf("%s %s: 401 with WWW-Authenticate %q", r.Method, r.Path, got)
		}
		checked.Header = out.Header.Clone()
		checked.Header.Set("WWW-Authenticate", `Bearer realm="tether"`)
	}
	if err := e.checkResponse(r, checked); err != nil {
		e.t.Fatalf("%s %s: %v\nbody: %s", r.Method, r.Path, err, out.Body)
	}
	return out
}

// newKey creates an API key with the admin key.
func (e *pushEnv) newKey(name string, rate int, scopes ...string) tether.CreatedAPIKey {
	e.t.Helper()
	var k tether.CreatedAPIKey
	e.doKey(testAdminKey, req{Method: "POST", Path: "/v1/admin/api-keys", Body: map[string]any{"name": name, "scopes": scopes, "rate_limit": rate}}).
		decode(e.t, 201, &k)
	return k
}

func TestPushAPI_AdminCreatesListsAndRevokesKeys(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("crm", 0, "push", "broadcast")
		if !strings.HasPrefix(k.Secret, "tether_"+k.ID+"_") || len(k.Scopes) != 2 {
			t.Fatalf("created %+v", k)
		}
		// A key created by the admin key can itself be an admin.
		admin2 := e.newKey("ops", 0, "admin")
		r := e.doKey(admin2.Secret, req{Method: "GET", Path: "/v1/admin/api-keys?limit=1"})
		var page tether.APIKeyPage
		r.decode(t, 200, &page)
		if len(page.Keys) != 1 || page.Keys[0].ID != k.ID || page.NextCursor == "" || strings.Contains(string(r.Body), "secret") {
			t.Fatalf("page = %s", r.Body)
		}
		push := map[string]any{"user_ids": []int{1}, "payload": map[string]any{"a": 1}}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: push}).decode(t, 202, nil)
		e.doKey(admin2.Secret, req{Method: "DELETE", Path: "/v1/admin/api-keys/" + k.ID}).decode(t, 204, nil)
		e.doKey(admin2.Secret, req{Method: "DELETE", Path: "/v1/admin/api-keys/" + k.ID}).decode(t, 204, nil)
		e.doKey(admin2.Secret, req{Method: "DELETE", Path: "/v1/admin/api-keys/k_nope"}).wantProblem(t, 404, tether.ENOTFOUND)
		// This replica forgets the revoked key at once.
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: push}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.doKey(admin2.Secret, req{Method: "GET", Path: "/v1/admin/api-keys"}).decode(t, 200, &page)
		if len(page.Keys) != 2 || page.Keys[0].RevokedAt == nil || page.Keys[1].RevokedAt != nil {
			t.Fatalf("after revoking: %+v", page)
		}
		for _, bad := range []map[string]any{
			{"name": "x", "scopes": []string{"root"}},
			{"name": "x", "scopes": []string{}},
			{"name": "", "scopes": []string{"push"}},
			{"name": "x", "scopes": []string{"push"}, "rate_limit": -1},
		} {
			e.doKey(testAdminKey, req{Method: "POST", Path: "/v1/admin/api-keys", Body: bad}).wantProblem(t, 400, tether.EINVALID)
		}
	})
}

func TestPushAPI_KeysAndTokensDoNotMix(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		u := e.signup("alice")
		k := e.newKey("crm", 0, "push")
		push := map[string]any{"user_ids": []int64{u.ID}, "payload": map[string]any{"a": 1}}
		// A user's Bearer token is no API key.
		e.doKey("", req{Method: "POST", Path: "/v1/push", Token: u.Tokens.AccessToken, Body: push}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.doKey("", req{Method: "POST", Path: "/v1/push", Body: push, Header: map[string]string{APIKeyHeader: u.Tokens.AccessToken}}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		// An API key is no user token, in either header.
		e.do(req{Method: "GET", Path: "/v1/users/me", Header: map[string]string{APIKeyHeader: k.Secret}}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "GET", Path: "/v1/users/me", Token: k.Secret}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.doKey("tether_k_0000_made-up", req{Method: "POST", Path: "/v1/push", Body: push}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestPushAPI_WrongScopeIsForbiddenOnEveryRoute(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		pushKey := e.newKey("p", 0, "push")
		bcKey := e.newKey("b", 0, "broadcast")
		adminKey := e.newKey("a", 0, "admin")
		push := map[string]any{"user_ids": []int{1}, "payload": map[string]any{"a": 1}}
		routes := []struct {
			r     req
			allow string // the key that may
		}{
			{req{Method: "POST", Path: "/v1/admin/api-keys", Body: map[string]any{"name": "x", "scopes": []string{"push"}}}, adminKey.Secret},
			{req{Method: "GET", Path: "/v1/admin/api-keys"}, adminKey.Secret},
			{req{Method: "DELETE", Path: "/v1/admin/api-keys/k_x"}, adminKey.Secret},
			{req{Method: "POST", Path: "/v1/push", Body: push}, pushKey.Secret},
			{req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": []any{push}}}, pushKey.Secret},
			{req{Method: "POST", Path: "/v1/push/broadcast", Body: map[string]any{"payload": map[string]any{"a": 1}}}, bcKey.Secret},
			{req{Method: "GET", Path: "/v1/push/p_000000000000000000000000"}, ""},
		}
		for _, rt := range routes {
			for _, key := range []string{pushKey.Secret, bcKey.Secret, adminKey.Secret} {
				r := e.doKey(key, rt.r)
				allowed := key == rt.allow || (rt.allow == "" && key != adminKey.Secret)
				if allowed && r.Status == 403 || !allowed && r.Status != 403 {
					t.Errorf("%s %s with %s: status %d", rt.r.Method, rt.r.Path, key[:12], r.Status)
				}
				if r.Status == 403 {
					r.wantProblem(t, 403, tether.EFORBIDDEN)
				}
			}
		}
	})
}

func TestPushAPI_IdempotencyKeyAnswersTheOriginalAndRefusesADifferentPush(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("crm", 0, "push")
		other := e.newKey("other", 0, "push")
		body := map[string]any{"user_ids": []int{2, 1}, "payload": map[string]any{"a": 1}, "idempotency_key": "order-7"}
		var first, again, sameOrder, otherKey tether.PushResult
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: body}).decode(t, 202, &first)
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: body}).decode(t, 202, &again)
		if first.Duplicate || !again.Duplicate || again.PushID != first.PushID {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		// The same push in another order and formatting is the same push.
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: `{"user_ids":[1,2,2],"payload":{ "a" : 1 },"idempotency_key":"order-7"}`}).decode(t, 202, &sameOrder)
		if sameOrder.PushID != first.PushID {
			t.Fatalf("reordered push got %+v", sameOrder)
		}
		body["payload"] = map[string]any{"a": 2}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: body}).wantProblem(t, 409, tether.ECONFLICT)
		// Idempotency keys are per API key.
		e.doKey(other.Secret, req{Method: "POST", Path: "/v1/push", Body: body}).decode(t, 202, &otherKey)
		if otherKey.Duplicate || otherKey.PushID == first.PushID {
			t.Fatalf("another key's push %+v", otherKey)
		}
		// Status: only for the key that created the push.
		var st tether.PushStatus
		e.doKey(k.Secret, req{Method: "GET", Path: "/v1/push/" + first.PushID}).decode(t, 200, &st)
		if st.Mode != tether.PushTransient || st.Targeted != 0 || st.ExpiresAt.Sub(st.CreatedAt) != time.Minute {
			t.Fatalf("status %+v", st)
		}
		e.doKey(other.Secret, req{Method: "GET", Path: "/v1/push/" + first.PushID}).wantProblem(t, 404, tether.ENOTFOUND)
		e.doKey(k.Secret, req{Method: "GET", Path: "/v1/push/nope"}).wantProblem(t, 404, tether.ENOTFOUND)
	})
}

func TestPushAPI_InvalidPushesAreClearProblems(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("crm", 0, "push", "broadcast")
		many := make([]int, 1001)
		for i := range many {
			many[i] = i + 1
		}
		for _, c := range []struct {
			body   any
			status int
			code   string
		}{
			{map[string]any{"user_ids": []int{}, "payload": map[string]any{}}, 400, tether.EINVALID},
			{map[string]any{"user_ids": many, "payload": map[string]any{}}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{0}, "payload": map[string]any{}}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": []int{1}}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "ttl_seconds": 0}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "ttl_seconds": 2419201}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "platforms": []string{"tv"}}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "collapse_key": strings.Repeat("c", 65)}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "extra": 1}, 400, tether.EINVALID},
			{map[string]any{"user_ids": []int{1}, "payload": map[string]any{"x": strings.Repeat("y", 4<<10)}}, 413, tether.ETOOLARGE},
			{`{"user_ids":[1],"payload":`, 400, tether.EINVALID},
		} {
			e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: c.body}).wantProblem(t, c.status, c.code)
		}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/broadcast", Body: map[string]any{"payload": "x"}}).wantProblem(t, 400, tether.EINVALID)
		// In a batch, each bad push fails alone.
		var out struct {
			Results []struct {
				Status int    `json:"status"`
				PushID string `json:"push_id"`
				Code   string `json:"code"`
			} `json:"results"`
		}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": []any{
			map[string]any{"user_ids": []int{1}, "payload": map[string]any{"ok": true}},
			map[string]any{"user_ids": []int{1}, "payload": map[string]any{"x": strings.Repeat("y", 4<<10)}},
		}}}).decode(t, 202, &out)
		if len(out.Results) != 2 || out.Results[0].Status != 202 || out.Results[0].PushID == "" || out.Results[1].Status != 413 || out.Results[1].Code != tether.ETOOLARGE {
			t.Fatalf("batch results %+v", out)
		}
	})
}

func TestPushAPI_RateLimitIs429WithRetryAfter(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("slow", 1, "push")
		pushes := make([]any, tether.MaxPushBatch)
		for i := range pushes {
			pushes[i] = map[string]any{"user_ids": []int{1}, "payload": map[string]any{"i": i}}
		}
		// The burst is one full batch; then one push a second.
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": pushes}}).decode(t, 202, nil)
		r := e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: map[string]any{"user_ids": []int{1}, "payload": map[string]any{}}})
		r.wantProblem(t, 429, tether.ERATELIMITED)
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 2 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		// Another key is not affected.
		k2 := e.newKey("fast", 0, "push")
		e.doKey(k2.Secret, req{Method: "POST", Path: "/v1/push", Body: map[string]any{"user_ids": []int{1}, "payload": map[string]any{}}}).decode(t, 202, nil)
		time.Sleep(time.Duration(ra) * time.Second)
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: map[string]any{"user_ids": []int{1}, "payload": map[string]any{}}}).decode(t, 202, nil)
	})
}

func TestPushAPI_WithoutTheServiceRoutesAreUnavailable(t *testing.T) {
	e := newEnv(t, store.DriverSQLite)
	r, err := e.serve(req{Method: "POST", Path: "/v1/push", Body: map[string]any{}, Header: map[string]string{APIKeyHeader: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 503 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
}

func TestPushAPI_BatchBodiesMayExceedTheGeneralBodyCap(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("bulk", 0, "push")
		pushes := make([]any, tether.MaxPushBatch)
		for i := range pushes {
			pushes[i] = map[string]any{"user_ids": []int{i + 1}, "payload": map[string]any{"text": strings.Repeat("x", 200)}}
		}
		var out struct {
			Results []struct {
				Status int `json:"status"`
			} `json:"results"`
		}
		// About 130 KiB: over MaxBodyBytes, under MaxPushBatchBodyBytes.
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": pushes}}).decode(t, 202, &out)
		if len(out.Results) != tether.MaxPushBatch || out.Results[499].Status != 202 {
			t.Fatalf("%d results", len(out.Results))
		}
		big := map[string]any{"user_ids": []int{1}, "payload": map[string]any{"text": strings.Repeat("x", MaxBodyBytes)}}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: big}).wantProblem(t, 413, tether.ETOOLARGE)
	})
}

// A service holding only a push key turns a username into the user id a
// push needs, case-insensitively; other scopes and user tokens may not.
func TestPushAPI_PushKeyLooksUpAUserIDByName(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		bob := e.signup("Bob")
		push, bcast := e.newKey("crm", 0, "push"), e.newKey("banner", 0, "broadcast")
		var got tether.User
		e.doKey(push.Secret, req{Method: "GET", Path: "/v1/push/users/by-name/bOB"}).decode(t, 200, &got)
		if got.ID != bob.ID || got.Username != bob.Username {
			t.Fatalf("looked up %+v, want bob %d", got, bob.ID)
		}
		var res tether.PushResult
		e.doKey(push.Secret, req{Method: "POST", Path: "/v1/push", Body: map[string]any{"user_ids": []int64{got.ID}, "payload": map[string]any{"n": 1}}}).decode(t, 202, &res)
		e.doKey(push.Secret, req{Method: "GET", Path: "/v1/push/users/by-name/nobody"}).wantProblem(t, 404, tether.ENOTFOUND)
		e.doKey(push.Secret, req{Method: "GET", Path: "/v1/push/users/by-name/x"}).wantProblem(t, 400, tether.EINVALID)
		e.doKey(bcast.Secret, req{Method: "GET", Path: "/v1/push/users/by-name/bob"}).wantProblem(t, 403, tether.EFORBIDDEN)
		e.doKey(bob.Tokens.AccessToken, req{Method: "GET", Path: "/v1/push/users/by-name/bob"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		// The push status route beside it still answers.
		e.doKey(push.Secret, req{Method: "GET", Path: "/v1/push/" + res.PushID}).decode(t, 200, nil)
		e.doKey(push.Secret, req{Method: "GET", Path: "/v1/push/users"}).wantProblem(t, 404, tether.ENOTFOUND)
	})
}

// A batch the schema refuses (here a user id of 0 in one item) is refused
// whole, and its valid items are not sent; problems only the server can
// judge fail their item alone, as openapi.yaml's example shows.
func TestPushAPI_BatchRefusedWholeBySchemaPerItemOtherwise(t *testing.T) {
	eachDriverPush(t, func(t *testing.T, e *pushEnv) {
		k := e.newKey("crm", 0, "push")
		ok := map[string]any{"user_ids": []int{1}, "payload": map[string]any{"n": 1}, "idempotency_key": "whole-1"}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": []any{
			ok, map[string]any{"user_ids": []int{0}, "payload": map[string]any{}},
		}}}).wantProblem(t, 400, tether.EINVALID)
		var first tether.PushResult
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push", Body: ok}).decode(t, 202, &first)
		if first.Duplicate {
			t.Fatal("the valid item of a refused batch was sent")
		}

		var out struct {
			Results []struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			} `json:"results"`
		}
		e.doKey(k.Secret, req{Method: "POST", Path: "/v1/push/batch", Body: map[string]any{"pushes": []any{
			map[string]any{"user_ids": []int{2}, "payload": map[string]any{"n": 2}},
			map[string]any{"user_ids": []int{1}, "payload": map[string]any{"x": strings.Repeat("y", 4<<10)}},
			map[string]any{"user_ids": []int{1}, "payload": map[string]any{"n": "other"}, "idempotency_key": "whole-1"},
			map[string]any{"user_ids": []int{1}, "payload": map[string]any{}, "collapse_key": "bell\u0007"},
		}}}).decode(t, 202, &out)
		want := []struct {
			status int
			code   string
		}{{202, ""}, {413, tether.ETOOLARGE}, {409, tether.ECONFLICT}, {400, tether.EINVALID}}
		if len(out.Results) != len(want) {
			t.Fatalf("results %+v", out.Results)
		}
		for i, w := range want {
			if out.Results[i].Status != w.status || out.Results[i].Code != w.code {
				t.Errorf("item %d: %+v, want %d %s", i, out.Results[i], w.status, w.code)
			}
		}
	})
}
