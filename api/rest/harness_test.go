package rest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/redis/go-redis/v9"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/discovery"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// env is one API server on a real store, with a client that checks every
// response against openapi.yaml.
type env struct {
	t       *testing.T
	handler http.Handler
	doc     *openapi3.T
	router  routers.Router
	metrics *metrics.Metrics
	priv    ed25519.PrivateKey
	ready   error // what Deps.Ready answers

	reg *route.Registry // routing registry of Deps.Presence: sessions added here are online
}

// drivers are the databases the integration tests run on.
var drivers = []string{store.DriverMySQL, store.DriverSQLite}

// eachDriver runs fn as a parallel subtest per database.
func eachDriver(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Parallel()
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// newEnv starts a server on a fresh database of the given driver, logging
// warnings and errors to the test log.
func newEnv(t *testing.T, driver string) *env {
	t.Helper()
	return newEnvLog(t, driver, slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// withT returns a copy of e that reports to t, for subtests.
func (e *env) withT(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// newEnvLog is newEnv with the server's log going to h.
func newEnvLog(t *testing.T, driver string, h slog.Handler) *env {
	t.Helper()
	var dsn string
	if driver == store.DriverMySQL {
		dsn = testenv.MySQL(t)
	} else {
		dsn = filepath.Join(t.TempDir(), "tether.db")
	}
	return newEnvDSN(t, driver, dsn, h)
}

// newEnvDSN is newEnvLog on the database at dsn. mods may change the
// server's Deps; they get the env's Redis and key prefix.
func newEnvDSN(t *testing.T, driver, dsn string, h slog.Handler, mods ...func(d *Deps, rdb *redis.Client, prefix string)) *env {
	t.Helper()
	ctx := t.Context()
	m := metrics.New()
	db, err := store.Open(ctx, store.Config{Driver: driver, DSN: dsn}, m)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := testenv.Redis(t)
	e := &env{t: t, metrics: m, priv: priv, reg: route.NewRegistry(rdb, prefix, time.Minute)}
	deps := Deps{
		Auth:      store.NewAuthService(db, token.NewSigner(priv, 15*time.Minute), 24*time.Hour, nil),
		Messages:  store.NewMessageService(db, nil),
		Profiles:  store.NewProfileService(db),
		Social:    store.NewSocialService(db),
		Groups:    store.NewGroupService(db, nil),
		Presence:  store.NewPresenceService(db, e.reg),
		Discovery: discovery.New(e.reg),
		Verifier:  token.NewVerifier(pub),
		Sessions:  store.NewSessionService(db, nil, nil, 24*time.Hour),
		Metrics:   m,
		Log:       slog.New(h),
		Ready: func(ctx context.Context) error {
			if e.ready != nil {
				return e.ready
			}
			return db.Ping(ctx)
		},

		Conversations: store.NewConversationService(db, nil),
	}
	for _, mod := range mods {
		mod(&deps, rdb, prefix)
	}
	s, err := New(deps)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = s.Handler()
	e.doc = s.doc
	// An independent router over the spec (gorilla/mux, not gin) decides which
	// operation a response must match.
	e.router, err = gorillamux.NewRouter(s.doc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// testWriter sends server logs to the test log, so failures show them.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// resp is a recorded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// req describes a request; Body is JSON-encoded unless it is a string,
// []byte or io.Reader, which are sent verbatim.
type req struct {
	Method string
	Path   string
	Token  string
	Body   any
	Header map[string]string
}

// do serves r and fails the test if the response does not match the spec.
func (e *env) do(r req) resp {
	e.t.Helper()
	out, err := e.serve(r)
	if err == nil {
		err = e.checkResponse(r, out)
	}
	if err != nil {
		e.t.Fatalf("%s %s: %v\nbody: %s", r.Method, r.Path, err, out.Body)
	}
	return out
}

// serve serves r without checking the response; safe from any goroutine.
func (e *env) serve(r req) (resp, error) {
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b // of unknown length: no Content-Length
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		body = bytes.NewReader(raw)
	}
	hr := httptest.NewRequest(r.Method, r.Path, body)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, hr)
	return resp{Status: w.Code, Header: w.Result().Header, Body: w.Body.Bytes()}, nil
}

// checkResponse validates a response against the operation the spec routes
// the request to: its status must be declared, its content type and body
// must match. Requests the spec has no operation for must get a 404 or 405
// problem document.
func (e *env) checkResponse(r req, out resp) error {
	probe := httptest.NewRequest(r.Method, r.Path, nil)
	route, params, err := e.router.FindRoute(probe)
	if err != nil {
		if out.Status != http.StatusNotFound && out.Status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no spec operation, yet status %d", out.Status)
		}
		return e.checkProblem(out)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    probe,
			PathParams: params,
			Route:      route,
		},
		Status:  out.Status,
		Header:  out.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(out.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("response %d does not match openapi.yaml: %w", out.Status, err)
	}
	if out.Status >= 400 {
		return e.checkProblem(out)
	}
	return nil
}

// checkProblem checks an error response is a problem document consistent
// with its status.
func (e *env) checkProblem(out resp) error {
	if ct := out.Header.Get("Content-Type"); ct != problem.ContentType {
		return fmt.Errorf("status %d with content type %q", out.Status, ct)
	}
	var v any
	if err := json.Unmarshal(out.Body, &v); err != nil {
		return fmt.Errorf("problem is not JSON: %w", err)
	}
	if err := e.doc.Components.Schemas["Problem"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("problem does not match the Problem schema: %w", err)
	}
	var p problem.Problem
	if err := json.Unmarshal(out.Body, &p); err != nil {
		return fmt.Errorf("problem: %w", err)
	}
	if p.Status != out.Status || problem.Status(p.Code) != out.Status || p.Type != problem.TypeBase+p.Code {
		return fmt.Errorf("inconsistent problem %+v for status %d", p, out.Status)
	}
	if out.Status == http.StatusUnauthorized && !strings.HasPrefix(out.Header.Get("WWW-Authenticate"), "Bearer") {
		return errors.New("401 without WWW-Authenticate: Bearer")
	}
	return nil
}

func (r resp) problem(t *testing.T) problem.Problem {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem: %v in %s", err, r.Body)
	}
	return p
}

// decode unmarshals the body into v after checking the status.
func (r resp) decode(t *testing.T, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// wantProblem checks the status and problem code of an error response.
func (r resp) wantProblem(t *testing.T, status int, code string) problem.Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	p := r.problem(t)
	if p.Code != code {
		t.Fatalf("code %q, want %q: %+v", p.Code, code, p)
	}
	return p
}

// user is a registered, logged-in account.
type user struct {
	tether.User
	Tokens tether.Tokens
}

// signup registers name and logs it in on a device.
func (e *env) signup(name string) user {
	e.t.Helper()
	var u user
	e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]string{"username": name, "password": "password-" + name}}).
		decode(e.t, 201, &u.User)
	e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
		"username": name, "password": "password-" + name, "device_id": "dev-" + name, "platform": "web",
	}}).decode(e.t, 201, &u.Tokens)
	return u
}

// send posts a text message from u and returns it with the status.
func (e *env) send(from user, to int64, clientID, text string) (tether.Message, int) {
	e.t.Helper()
	r := e.do(req{Method: "POST", Path: "/v1/messages", Token: from.Tokens.AccessToken, Body: map[string]any{
		"recipient_id": to, "client_msg_id": clientID, "type": "text", "content": map[string]string{"text": text},
	}})
	if r.Status != 200 && r.Status != 201 {
		e.t.Fatalf("send: status %d: %s", r.Status, r.Body)
	}
	var m tether.Message
	r.decode(e.t, r.Status, &m)
	return m, r.Status
}
