package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/stack"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/token"
)

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noenv(string) string { return "" }

func runCmd(ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	var out, errb syncBuffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(ctx, args, noenv, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_UnknownCommandIsAUsageError(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(context.Background(), nil, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) || !strings.Contains(stderr, "Commands:") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCmd(context.Background(), nil); code != 2 {
		t.Fatalf("no command: code %d", code)
	}
}

func TestRun_HelpListsEachCommandsSettings(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(context.Background(), nil, "help", "push")
	if code != 0 || !strings.Contains(out, "--node-id  (TETHER_NODE_ID") {
		t.Fatalf("code %d, out %q", code, out)
	}
	code, out, _ = runCmd(context.Background(), nil, "api", "--help")
	if code != 0 || !strings.Contains(out, "TETHER_TOKEN_PRIVATE_KEY") {
		t.Fatalf("api --help: code %d, out %q", code, out)
	}
}

func TestRun_InvalidConfigurationExitsWithTheReason(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(context.Background(), nil, "api", "--http", "nowhere")
	if code != 1 || !strings.Contains(stderr, "--http (TETHER_HTTP_ADDR)") || !strings.Contains(stderr, "--mysql (TETHER_MYSQL_DSN): is required") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

func TestKeygen_PrintsAMatchingKeyPairAsEnvironment(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(context.Background(), nil, "keygen")
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	priv, err := token.ParsePrivate(vars["TETHER_TOKEN_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := token.ParsePublic(vars["TETHER_TOKEN_PUBLIC_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	s := token.NewSigner(priv, time.Minute)
	raw, _, _ := s.Sign(token.Claims{UserID: 1, DeviceID: "d"})
	if _, err := token.NewVerifier(pub).Verify(raw); err != nil {
		t.Fatalf("public key does not verify the private key's tokens: %v", err)
	}
}

func TestMigrate_SQLiteGetsTheCurrentSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "t.db")
	if code, _, stderr := runCmd(context.Background(), nil, "migrate", "--sqlite", path, "--log-level", "error"); code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	db, err := store.Open(context.Background(), store.Config{Driver: "sqlite", DSN: path}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckSchema(context.Background()); err != nil {
		t.Fatalf("schema after migrate: %v", err)
	}
	// Migrating again is a no-op, not an error.
	if code, _, stderr := runCmd(context.Background(), nil, "migrate", "--sqlite", path, "--log-level", "error"); code != 0 {
		t.Fatalf("second migrate: code %d: %s", code, stderr)
	}
}

func TestMigrate_MariaDBGetsTheCurrentSchema(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQL(t)
	if code, _, stderr := runCmd(context.Background(), nil, "migrate", "--mysql", dsn, "--log-level", "error"); code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	db, err := store.Open(context.Background(), store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CheckSchema(context.Background()); err != nil {
		t.Fatalf("schema after migrate: %v", err)
	}
}

func startDev(t *testing.T) *stack.Dev {
	t.Helper()
	c := config.DefaultDev()
	c.HTTPAddr, c.PushAddr, c.WSAddr, c.AdminAddr, c.DataDir = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	d, err := stack.StartDev(context.Background(), c, stack.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
	return d
}

func chatArgs(d *stack.Dev, user string, extra ...string) []string {
	return append([]string{"chat", "--user", user, "--api", "http://" + d.HTTPAddr, "--push", d.PushAddr}, extra...)
}

// The quick start of README.md, scripted through pipes: bob listens, alice
// sends a line, both print the entry.
func TestChat_TwoUsersChatThroughPipes(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bobIn, bobInW := io.Pipe()
	var bobOut, bobErr syncBuffer
	bobDone := make(chan int, 1)
	go func() { bobDone <- run(ctx, chatArgs(d, "bob"), noenv, bobIn, &bobOut, &bobErr) }()
	testenv.Eventually(t, 15*time.Second, func() bool { return strings.Contains(bobOut.String(), "connected as bob") }, "bob connects: %s", bobErr.String())

	code, aliceOut, aliceErr := runCmd(ctx, strings.NewReader("/to bob\nbob: hello there\nand again\n"), chatArgs(d, "alice")...)
	if code != 0 {
		t.Fatalf("alice: code %d, stderr %s", code, aliceErr)
	}
	for _, want := range []string{"[v1] alice -> bob: hello there\n", "[v2] alice -> bob: and again\n"} {
		if !strings.Contains(aliceOut, want) {
			t.Errorf("alice's output lacks %q:\n%s", want, aliceOut)
		}
		if !waitFor(15*time.Second, func() bool { return strings.Contains(bobOut.String(), want) }) {
			t.Errorf("bob's output lacks %q:\n%s", want, bobOut.String())
		}
	}

	bobInW.Write([]byte("alice: hi alice\n"))
	bobInW.Close()
	select {
	case code := <-bobDone:
		if code != 0 {
			t.Fatalf("bob: code %d, stderr %s", code, bobErr.String())
		}
	case <-ctx.Done():
		t.Fatal("bob did not exit after his input ended")
	}
	if !strings.Contains(bobOut.String(), "[v3] bob -> alice: hi alice\n") {
		t.Errorf("bob's output lacks his own message:\n%s", bobOut.String())
	}
}

// Names printed for a message come from its authenticated sender id (GET
// /v1/users/{id}), never from its content, and chat sends plain content.
func TestChat_NamesComeFromSenderIDAndContentIsPlainText(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := client.NewAPI("http://"+d.HTTPAddr, nil)
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, err := a.Register(ctx, name, config.DevPassword); err != nil {
			t.Fatal(err)
		}
	}
	carol, err := a.Login(ctx, "carol", config.DevPassword, "script", "server")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := a.UserByName(ctx, carol.AccessToken, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Carol never ran chat and claims to be alice in the content.
	forged := json.RawMessage(`{"text":"it is me, alice"}`)
	if _, _, err := a.Send(ctx, carol.AccessToken, bob.ID, "m-1", tether.MessageText, forged); err != nil {
		t.Fatal(err)
	}

	bobIn, bobInW := io.Pipe()
	var bobOut, bobErr syncBuffer
	bobDone := make(chan int, 1)
	go func() { bobDone <- run(ctx, chatArgs(d, "bob"), noenv, bobIn, &bobOut, &bobErr) }()
	want := "[v1] carol -> bob: it is me, alice\n"
	if !waitFor(15*time.Second, func() bool { return strings.Contains(bobOut.String(), want) }) {
		t.Fatalf("bob's output lacks %q:\n%s\nstderr: %s", want, bobOut.String(), bobErr.String())
	}
	bobInW.Write([]byte("Carol: hi carol\n"))
	bobInW.Close()
	select {
	case code := <-bobDone:
		if code != 0 {
			t.Fatalf("bob: code %d, stderr %s", code, bobErr.String())
		}
	case <-ctx.Done():
		t.Fatal("bob did not exit after his input ended")
	}
	if out := bobOut.String(); !strings.Contains(out, "[v2] bob -> carol: hi carol\n") {
		t.Fatalf("bob's output lacks his message to carol:\n%s", out)
	}

	page, err := a.Sync(ctx, carol.AccessToken, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Message == nil {
		t.Fatalf("carol's timeline after v1: %+v", page.Entries)
	}
	var content map[string]any
	if err := json.Unmarshal(page.Entries[0].Message.Content, &content); err != nil {
		t.Fatal(err)
	}
	if len(content) != 1 || content["text"] != "hi carol" {
		t.Fatalf("chat sent content %s, want exactly {\"text\":\"hi carol\"}", page.Entries[0].Message.Content)
	}
}

func TestChat_ReportsUnknownRecipientsAndKeepsGoing(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := client.NewAPI("http://"+d.HTTPAddr, nil).Register(ctx, "frank", config.DevPassword); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd(ctx, strings.NewReader("nobody: hi\nno recipient yet\n/bogus\nfrank: hi frank\n"), chatArgs(d, "dave")...)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, want := range []string{"no user named nobody", "no recipient", "unknown command /bogus", "[v1] dave -> frank: hi frank"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestChat_WrongPasswordForAnExistingUserIsAnError(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code, _, stderr := runCmd(ctx, nil, chatArgs(d, "erin")...); code != 0 {
		t.Fatalf("first run: %s", stderr)
	}
	code, _, stderr := runCmd(ctx, nil, chatArgs(d, "erin", "--password", "another-password")...)
	if code != 1 || !strings.Contains(stderr, "wrong password") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
