package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/token"
	"github.com/tetherim/tether/sql/migrations"
)

// Why this test exists: the schema window (sql/migrations/README.md) claims
// that an older `tether api` keeps serving while a newer release has
// migrated the database, which is what makes a gradual rollout of Tether
// possible. The store tests check the window with the current code's own
// queries; only a binary built from an older commit runs the queries that
// release really shipped. So this test checks out oldBinaryCommit in a
// temporary git worktree, builds its cmd/tether (one build; the go build
// cache makes repeats cheap), migrates a fresh MariaDB database to the
// CURRENT schema with the current code, and drives the old binary's REST
// API through the core flow. It then applies the kind of migration a later
// release would (an expansion, then a contraction for binaries newer than
// the old one) and checks the old binary serves on the first and refuses to
// start on the second.
//
// oldBinaryCommit is the first commit on main whose API has the schema
// window (migration 9, migrations.CheckWindow); commits before it demand
// the exact schema they were built with and cannot take part in a rolling
// upgrade at all. Move it forward to the previous release when a migration
// contracts the schema for it (the test then fails with "upgrade the
// binary", which is the point: that contraction must wait for a release).
const oldBinaryCommit = "0c9cae98c0a0458614830fd3495a3fcdfb514d8e"

func TestOldBinary_ServesChatOnTheCurrentSchemaAndRefusesAContractionForNewerBinaries(t *testing.T) {
	exe := buildOldBinary(t, oldBinaryCommit)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dsn := testenv.MySQL(t)
	db, err := store.Open(ctx, store.Config{Driver: store.DriverMySQL, DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil { // the current schema, by the current code
		t.Fatal(err)
	}
	latest := migrations.Latest(db.Dialect())

	_, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, prefix := testenv.Redis(t)
	env := append(os.Environ(), "TETHER_MYSQL_DSN="+dsn, "TETHER_TOKEN_PRIVATE_KEY="+token.EncodePrivate(priv),
		"TETHER_REDIS_ADDR="+testenv.RedisAddr(), "TETHER_REDIS_PREFIX="+prefix, "TETHER_LOG_LEVEL=warn",
		"TETHER_SHUTDOWN_TIMEOUT=2s")

	api := startOldAPI(t, exe, env)
	c := &restClient{t: t, base: api.base}
	c.do("POST", "/v1/accounts", "", map[string]any{"username": "alice", "password": "correct horse battery"}, http.StatusCreated, nil)
	c.do("POST", "/v1/accounts", "", map[string]any{"username": "bob", "password": "correct horse battery"}, http.StatusCreated, nil)
	alice, aliceID := c.login("alice")
	bob, bobID := c.login("bob")
	conv := fmt.Sprintf("d:%d:%d", min(aliceID, bobID), max(aliceID, bobID))
	c.chat(alice, bob, bobID, conv, "m1")
	api.stop()

	// A later release's expansion: old binaries go on serving on it.
	sqlDB, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	apply := func(version int64, kind string, oldest int64, ddl ...string) {
		t.Helper()
		for _, q := range append(ddl,
			fmt.Sprintf("INSERT INTO %s (version_id, is_applied) VALUES (%d, true)", migrations.VersionTable, version),
			fmt.Sprintf("INSERT INTO schema_changes (version, kind, oldest_binary) VALUES (%d, '%s', %d)", version, kind, oldest)) {
			if _, err := sqlDB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	apply(latest+1, migrations.KindExpand, 0,
		"ALTER TABLE messages ADD COLUMN future_flag VARCHAR(16) NULL",
		"CREATE TABLE future_things (id BIGINT NOT NULL, PRIMARY KEY (id))")
	api = startOldAPI(t, exe, env)
	c.base = api.base
	alice, _ = c.login("alice")
	bob, _ = c.login("bob")
	c.chat(alice, bob, bobID, conv, "m2")
	api.stop()

	// A contraction that only binaries from latest+1 on survive: the old
	// binary must refuse to start rather than serve on a schema it does not know.
	apply(latest+2, migrations.KindContract, latest+1)
	out, err := runOldAPIUntilExit(t, exe, env)
	if err == nil || !strings.Contains(out, "upgrade the binary") {
		t.Fatalf("old api on a contraction for newer binaries: err=%v, want a refusal saying \"upgrade the binary\"; output:\n%s", err, out)
	}
}

// buildOldBinary builds cmd/tether of commit in a temporary git worktree of
// the repository the test runs in. It skips when the history is absent.
func buildOldBinary(t *testing.T, commit string) string {
	t.Helper()
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		t.Skipf("old-binary test needs the git repository (%v: %s)", err, top)
	}
	if shallow, _ := git("-C", top, "rev-parse", "--is-shallow-repository"); shallow == "true" {
		if _, err := git("-C", top, "cat-file", "-e", commit+"^{commit}"); err != nil {
			t.Skipf("old-binary test needs commit %s, absent from this shallow clone (run it in a full clone)", commit)
		}
	}
	if out, err := git("-C", top, "cat-file", "-e", commit+"^{commit}"); err != nil {
		t.Skipf("old-binary test needs commit %s, absent from this clone's history: %s", commit, out)
	}
	dir := filepath.Join(t.TempDir(), "old")
	if out, err := git("-C", top, "worktree", "add", "--detach", dir, commit); err != nil {
		t.Fatalf("git worktree add: %v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = git("-C", top, "worktree", "remove", "--force", dir) })
	exe := filepath.Join(t.TempDir(), "tether-old")
	// -trimpath: without it the build cache keys the module's packages by
	// the worktree's (new, temporary) directory and every run rebuilds them.
	build := exec.Command("go", "build", "-trimpath", "-o", exe, "./cmd/tether")
	build.Dir = dir
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v: %s", commit, err, out)
	}
	t.Logf("built tether at %s in %s", commit[:12], time.Since(start).Round(time.Millisecond))
	return exe
}

type oldAPI struct {
	base string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// startOldAPI runs `exe api` and waits until its REST port answers.
func startOldAPI(t *testing.T, exe string, env []string) *oldAPI {
	t.Helper()
	httpAddr := freePort(t)
	cmd := exec.Command(exe, "api")
	cmd.Env = append(env, "TETHER_HTTP_ADDR="+httpAddr, "TETHER_ADMIN_ADDR="+freePort(t))
	a := &oldAPI{base: "http://" + httpAddr, cmd: cmd, done: make(chan struct{}), log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(a.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-a.done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-a.done:
			t.Fatalf("old api exited at start:\n%s", a.log)
		default:
		}
		if resp, err := http.Get(a.base + "/v1/users/me"); err == nil {
			resp.Body.Close()
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("old api did not answer on %s in 30s:\n%s", httpAddr, a.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *oldAPI) stop() {
	_ = a.cmd.Process.Signal(os.Interrupt)
	<-a.done
}

// runOldAPIUntilExit runs `exe api` expecting it to refuse to start.
func runOldAPIUntilExit(t *testing.T, exe string, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "api")
	cmd.Env = append(env, "TETHER_HTTP_ADDR="+freePort(t), "TETHER_ADMIN_ADDR="+freePort(t))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type restClient struct {
	t    *testing.T
	base string
}

func (c *restClient) do(method, path, bearer string, body any, want int, out any) {
	c.t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw.String())
	}
	if out != nil {
		if err := json.Unmarshal(raw.Bytes(), out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw.String())
		}
	}
}

func (c *restClient) login(user string) (string, int64) {
	c.t.Helper()
	var s struct {
		AccessToken string `json:"access_token"`
		UserID      int64  `json:"user_id"`
	}
	c.do("POST", "/v1/sessions", "", map[string]any{"username": user, "password": "correct horse battery",
		"device_id": user + "-phone", "platform": "ios"}, http.StatusCreated, &s)
	return s.AccessToken, s.UserID
}

// chat sends a 1:1 message from alice to bob and checks bob's sync and
// alice's history of the conversation both hold it.
func (c *restClient) chat(alice, bob string, bobID int64, conv, clientMsgID string) {
	c.t.Helper()
	var m struct {
		ID int64 `json:"id"`
	}
	c.do("POST", "/v1/messages", alice, map[string]any{"recipient_id": bobID, "client_msg_id": clientMsgID,
		"type": "text", "content": map[string]any{"text": "hi " + clientMsgID}}, http.StatusCreated, &m)
	if m.ID == 0 {
		c.t.Fatalf("send %s: no message id", clientMsgID)
	}
	var page struct {
		Entries []struct {
			Message *struct {
				ID int64 `json:"id"`
			} `json:"message"`
		} `json:"entries"`
	}
	c.do("GET", "/v1/sync?since=0", bob, nil, http.StatusOK, &page)
	found := false
	for _, e := range page.Entries {
		found = found || (e.Message != nil && e.Message.ID == m.ID)
	}
	if !found {
		c.t.Fatalf("bob's sync lacks message %d (%s)", m.ID, clientMsgID)
	}
	var hist struct {
		Messages []struct {
			ID int64 `json:"id"`
		} `json:"messages"`
	}
	c.do("GET", "/v1/conversations/"+conv+"/messages", alice, nil, http.StatusOK, &hist)
	found = false
	for _, h := range hist.Messages {
		found = found || h.ID == m.ID
	}
	if !found {
		c.t.Fatalf("alice's history of %s lacks message %d (%s)", conv, m.ID, clientMsgID)
	}
}
