package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/token"
)

// unusedAuth and unusedMessages satisfy Deps for tests that only look at
// routing; calling any method panics, which these tests never do.
type unusedAuth struct{ tether.AuthService }
type unusedMessages struct{ tether.MessageService }
type unusedSessions struct{ tether.SessionService }
type unusedProfiles struct{ tether.ProfileService }
type unusedSocial struct{ tether.SocialService }

func routingDeps(t *testing.T) Deps {
	pub, _, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return Deps{
		Auth:     unusedAuth{},
		Messages: unusedMessages{},
		Sessions: unusedSessions{},
		Profiles: unusedProfiles{},
		Social:   unusedSocial{},
		Verifier: token.NewVerifier(pub),
		Metrics:  metrics.New(),
		Log:      slog.New(slog.DiscardHandler),
	}
}

// The spec's enum of problem codes must list every code the server can send.
func TestProblemCodes_AreAllInSpec(t *testing.T) {
	doc, err := loadSpec(t.Context(), tether.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		enum = append(enum, v.(string))
	}
	for _, code := range problem.Codes() {
		if !slices.Contains(enum, code) {
			t.Errorf("code %q is missing from the Problem.code enum %v", code, enum)
		}
	}
}

func TestFail_InternalErrorDetailNeverReachesClient(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	fail(c, errors.New("dial tcp 10.0.0.7:3306: secret-host refused"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret-host") {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("content type %q", ct)
	}
	if len(c.Errors) != 1 {
		t.Fatalf("cause not kept for the log: %v", c.Errors)
	}
}

func TestFail_UnauthorizedSetsWWWAuthenticate(t *testing.T) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	fail(c, tether.Errorf(tether.EUNAUTHORIZED, "no"))
	var p problem.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") || p.Code != tether.EUNAUTHORIZED || p.Detail != "no" {
		t.Fatalf("status %d headers %v problem %+v", w.Code, w.Header(), p)
	}
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]uint64{"": 0, "0": 0, "42": 42, "9223372036854775807": 1<<63 - 1} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("parseSince(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"-1", "x", "1.5", "9223372036854775808", " 1"} {
		if _, err := parseSince(in); tether.ErrorCode(err) != tether.EINVALID {
			t.Errorf("parseSince(%q) err = %v, want invalid", in, err)
		}
	}
}

// The handler's own check holds even if the spec's id schema were loosened.
func TestParseUserID(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "42": 42, "9223372036854775807": 1<<63 - 1} {
		if got, err := parseUserID(in); err != nil || got != want {
			t.Errorf("parseUserID(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "x", "1.5", "9223372036854775808", " 1", "me"} {
		if _, err := parseUserID(in); tether.ErrorCode(err) != tether.EINVALID {
			t.Errorf("parseUserID(%q) err = %v, want invalid", in, err)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]int{"": tether.DefaultPageSize, "1": 1, "200": tether.MaxPageSize} {
		if got, err := parseLimit(in); err != nil || got != want {
			t.Errorf("parseLimit(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "-3", "201", "ten", "1e2"} {
		if _, err := parseLimit(in); tether.ErrorCode(err) != tether.EINVALID {
			t.Errorf("parseLimit(%q) err = %v, want invalid", in, err)
		}
	}
}

func TestHistoryQuery_BeforeAndAfterTogetherAreInvalid(t *testing.T) {
	if _, err := historyQuery("a", "b", ""); tether.ErrorCode(err) != tether.EINVALID {
		t.Fatalf("err = %v", err)
	}
	q, err := historyQuery("c1", "", "7")
	if err != nil || q != (tether.HistoryQuery{Before: "c1", Limit: 7}) {
		t.Fatalf("q = %+v, %v", q, err)
	}
}

func TestDecodeJSON_RejectsUnknownFieldsTrailingDataAndWrongTypes(t *testing.T) {
	var v registerRequest
	for body, want := range map[string]string{
		`{"username":"a","password":"b","admin":true}`: `unknown field "admin"`,
		`{"username":"a"} {}`:                          "unexpected data",
		`{"username":7}`:                               `field "username" must be a string`,
		`{"username":`:                                 "truncated",
		`{nope}`:                                       "malformed JSON",
		``:                                             "a JSON object is required",
	} {
		err := decodeJSON(strings.NewReader(body), &v)
		if tether.ErrorCode(err) != tether.EINVALID || !strings.Contains(tether.ErrorMessage(err), want) {
			t.Errorf("decodeJSON(%q) = %v, want invalid with %q", body, err, want)
		}
	}
	if err := decodeJSON(strings.NewReader(`{"username":"alice","password":"pw"}`), &v); err != nil || v.Username != "alice" {
		t.Fatalf("valid body: %v %+v", err, v)
	}
}

func TestSpecPath_TranslatesGinParams(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/users/me": "/v1/users/me",
		"/v1/conversations/:conversation_id/messages": "/v1/conversations/{conversation_id}/messages",
		"/files/*path": "/files/{path}",
	} {
		if got := specPath(in); got != want {
			t.Errorf("specPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every gin route is a spec operation and every spec operation is a gin route.
func TestRoutes_MatchSpecOperationsExactly(t *testing.T) {
	s, err := New(routingDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	var routes, ops []string
	for _, r := range s.engine.Routes() {
		routes = append(routes, r.Method+" "+specPath(r.Path))
	}
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(ops)
	if !slices.Equal(routes, ops) {
		t.Fatalf("routes and spec drifted:\n gin:  %v\n spec: %v", routes, ops)
	}
}

func TestNew_FailsWhenARouteIsMissingFromSpec(t *testing.T) {
	spec := bytes.Replace(tether.OpenAPI, []byte("  /v1/sync:\n"), []byte("  /v1/sync-renamed:\n"), 1)
	if bytes.Equal(spec, tether.OpenAPI) {
		t.Fatal("test did not alter the spec")
	}
	_, err := newServer(routingDeps(t), spec)
	if err == nil || !strings.Contains(err.Error(), "/v1/sync") {
		t.Fatalf("err = %v", err)
	}
}

func TestNew_RequiresDependencies(t *testing.T) {
	d := routingDeps(t)
	d.Verifier = nil
	if _, err := New(d); err == nil {
		t.Fatal("New accepted a nil Verifier")
	}
}

// A panicking handler is answered with a 500 problem and counted as an error.
func TestRecoverPanic_AnswersInternalProblem(t *testing.T) {
	s, err := New(routingDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	// The unused services panic when called; register with the spec-free
	// engine directly to reach one without a valid token.
	s.engine.GET("/panic", func(*gin.Context) { panic("boom") })
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/panic", nil))
	var p problem.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Code != 500 || p.Code != tether.EINTERNAL || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("status %d problem %+v", w.Code, p)
	}
}

// The limits in openapi.yaml are the api package's limits.
func TestSpecLimits_MatchAPIConstants(t *testing.T) {
	doc, err := loadSpec(t.Context(), tether.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	prop := func(name, p string) *openapi3.Schema { return schema(name).Properties[p].Value }
	checkLen := func(what string, s *openapi3.Schema, lo, hi int) {
		t.Helper()
		if s.MinLength != uint64(lo) || s.MaxLength == nil || *s.MaxLength != uint64(hi) {
			t.Errorf("%s: spec length %d..%v, api %d..%d", what, s.MinLength, s.MaxLength, lo, hi)
		}
	}
	checkLen("username", schema("Username"), tether.MinUsernameLen, tether.MaxUsernameLen)
	checkLen("password", schema("Password"), tether.MinPasswordLen, tether.MaxPasswordLen)
	checkLen("device_id", prop("Login", "device_id"), 1, tether.MaxDeviceIDLen)
	checkLen("client_msg_id", prop("NewMessage", "client_msg_id"), 1, tether.MaxClientMsgID)

	var platforms []string
	for _, v := range prop("Login", "platform").Enum {
		platforms = append(platforms, v.(string))
	}
	if !slices.Equal(platforms, tether.Platforms) {
		t.Errorf("platforms: spec %v, api %v", platforms, tether.Platforms)
	}
	var types []string
	for _, v := range schema("MessageType").Enum {
		types = append(types, v.(string))
	}
	if want := []string{tether.MessageText, tether.MessageImage, tether.MessageFile, tether.MessageCustom}; !slices.Equal(types, want) {
		t.Errorf("message types: spec %v, api %v", types, want)
	}
	limit := doc.Components.Parameters["Limit"].Value.Schema.Value
	if *limit.Max != tether.MaxPageSize || limit.Default != float64(tether.DefaultPageSize) {
		t.Errorf("limit: spec max %v default %v, api %d %d", *limit.Max, limit.Default, tether.MaxPageSize, tether.DefaultPageSize)
	}
}

// A server missing a service refuses to start instead of answering 500 on
// that service's routes at request time.
func TestNew_RefusesMissingServices(t *testing.T) {
	for name, drop := range map[string]func(*Deps){
		"Auth":     func(d *Deps) { d.Auth = nil },
		"Messages": func(d *Deps) { d.Messages = nil },
		"Sessions": func(d *Deps) { d.Sessions = nil },
		"Profiles": func(d *Deps) { d.Profiles = nil },
		"Social":   func(d *Deps) { d.Social = nil },
	} {
		d := routingDeps(t)
		drop(&d)
		if _, err := New(d); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: err = %v", name, err)
		}
	}
	if _, err := New(routingDeps(t)); err != nil {
		t.Fatalf("complete deps: %v", err)
	}
}
