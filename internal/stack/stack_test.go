package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/token"
)

const password = "correct horse battery"

func quiet() Option {
	return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func devConfig(t *testing.T, dir string) config.DevConfig {
	c := config.DefaultDev()
	c.HTTPAddr, c.PushAddr, c.WSAddr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.DataDir = dir
	return c
}

func stopOnCleanup(t *testing.T, s interface{ Stop(context.Context) error }) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func checkAdmin(t *testing.T, admin string) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz", "/debug/pprof/"} {
		if code, body := get(t, "http://"+admin+path); code != http.StatusOK {
			t.Errorf("admin %s: %d %s", path, code, body)
		}
	}
	if _, body := get(t, "http://"+admin+"/metrics"); !strings.Contains(body, "tether_calls_total") {
		t.Errorf("admin /metrics lacks tether_calls_total")
	}
}

// recorder collects the entries a push client hands its application.
type recorder struct {
	mu      sync.Mutex
	entries []tether.Entry
}

func (r *recorder) handle(e tether.Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
}

func (r *recorder) find(text string) *tether.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.entries {
		if e.Message != nil && strings.Contains(string(e.Message.Content), text) {
			return &r.entries[i]
		}
	}
	return nil
}

// exchange registers alice and bob, connects bob over push, lets alice send
// him a message over REST, and waits for bob's client to receive it.
func exchange(t *testing.T, httpAddr, pushAddr string, sessions func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + httpAddr
	rest := client.NewAPI(base, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := rest.Register(ctx, u, password); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	var rec recorder
	bob := client.New(client.Config{
		APIBase: base, PushAddr: pushAddr, Username: "bob", Password: password,
		DeviceID: "bob-phone", Handler: rec.handle,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	runCtx, stopBob := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bob.Run(runCtx) }()
	defer func() { stopBob(); <-done }()
	// Waiting for the session makes the message travel by push, not by the
	// sync that follows a connect.
	testenv.Eventually(t, 10*time.Second, func() bool { return sessions() == 1 }, "bob's push session")

	tok, err := rest.Login(ctx, "alice", password, "alice-laptop", "desktop")
	if err != nil {
		t.Fatalf("login alice: %v", err)
	}
	bobUser, err := rest.UserByName(ctx, tok.AccessToken, "bob")
	if err != nil {
		t.Fatalf("look up bob: %v", err)
	}
	content := json.RawMessage(`{"text":"hello there"}`)
	msg, created, err := rest.Send(ctx, tok.AccessToken, bobUser.ID, "m-1", tether.MessageText, content)
	if err != nil || !created {
		t.Fatalf("send: %v (created %v)", err, created)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rec.find("hello there") != nil }, "bob receives the message")
	e := rec.find("hello there")
	if e.Message.ID != msg.ID || e.Message.SenderID != tok.UserID || e.Version != 1 {
		t.Errorf("bob got %+v, want message %d from %d at version 1", e.Message, msg.ID, tok.UserID)
	}
}

func TestStartDev_RegisterLoginSendAndPushDeliveryInOneProcess(t *testing.T) {
	t.Parallel()
	d, err := StartDev(context.Background(), devConfig(t, t.TempDir()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	checkAdmin(t, d.AdminAddr)
	if code, _ := get(t, "http://"+d.HTTPAddr+"/healthz"); code != http.StatusOK {
		t.Errorf("REST /healthz: %d", code)
	}
	exchange(t, d.HTTPAddr, d.PushAddr, d.Sessions)
}

func TestStartDev_KeepsDataAndTokenKeyAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	d, err := StartDev(ctx, devConfig(t, dir), quiet())
	if err != nil {
		t.Fatal(err)
	}
	rest := client.NewAPI("http://"+d.HTTPAddr, nil)
	if _, err := rest.Register(ctx, "carol", password); err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "carol", password, "dev-1", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}

	d, err = StartDev(ctx, devConfig(t, dir), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	rest = client.NewAPI("http://"+d.HTTPAddr, nil)
	// The old access token still verifies only if the key was kept.
	if u, err := rest.Me(ctx, tok.AccessToken); err != nil || u.Username != "carol" {
		t.Fatalf("token from the first run: %v %+v", err, u)
	}
	if _, err := rest.Register(ctx, "carol", password); client.ErrorCode(err) != tether.ECONFLICT {
		t.Fatalf("carol registered twice (database not kept): %v", err)
	}
}

func TestStartDev_RejectsACorruptTokenKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DevKeyFile), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StartDev(context.Background(), devConfig(t, dir), quiet())
	if err == nil || !strings.Contains(err.Error(), DevKeyFile) {
		t.Fatalf("err = %v", err)
	}
}

func TestStartDev_FailsCleanlyWhenAPortIsTaken(t *testing.T) {
	t.Parallel()
	first, err := StartDev(context.Background(), devConfig(t, t.TempDir()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, first)
	c := devConfig(t, t.TempDir())
	c.AdminAddr = first.AdminAddr
	if _, err := StartDev(context.Background(), c, quiet()); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("err = %v", err)
	}
	// The failed start released its other ports: its push address can be reused.
	c.AdminAddr = "127.0.0.1:0"
	second, err := StartDev(context.Background(), c, quiet())
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	stopOnCleanup(t, second)
}

// migratedMySQL gives the test a fresh MySQL database migrated to the
// current schema, and a Redis key prefix of its own.
func migratedMySQL(t *testing.T) (dsn, prefix string) {
	t.Helper()
	dsn = testenv.MySQL(t)
	_, prefix = testenv.Redis(t)
	db, err := store.Open(context.Background(), store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dsn, prefix
}

func keyPair(t *testing.T) (priv, pub string) {
	t.Helper()
	pk, sk, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return token.EncodePrivate(sk), token.EncodePublic(pk)
}

func apiConfig(t *testing.T, dsn, prefix, priv string) config.APIConfig {
	c := config.DefaultAPI()
	c.HTTPAddr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.MySQLDSN, c.TokenPrivateKey = dsn, priv
	c.Redis.Addr, c.Redis.Prefix = testenv.RedisAddr(), prefix
	c.RelayPoll = 200 * time.Millisecond
	return c
}

func TestStartAPI_RefusesAnUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQL(t)
	_, prefix := testenv.Redis(t)
	priv, _ := keyPair(t)
	_, err := StartAPI(context.Background(), apiConfig(t, dsn, prefix, priv), quiet())
	if err == nil || !strings.Contains(err.Error(), "tether migrate") {
		t.Fatalf("err = %v", err)
	}
}

func TestStartPush_RefusesUnreachableRedis(t *testing.T) {
	t.Parallel()
	_, pub := keyPair(t)
	c := config.DefaultPush()
	c.NodeID, c.TCPAddr, c.AdminAddr, c.TokenPublicKey = "p1", "127.0.0.1:0", "127.0.0.1:0", pub
	c.Redis.Addr = "127.0.0.1:1"
	if _, err := StartPush(context.Background(), c, quiet()); err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("err = %v", err)
	}
}

func TestStartAPIAndPush_DeliverOnMariaDBAndRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, pub := keyPair(t)

	a, err := StartAPI(ctx, apiConfig(t, dsn, prefix, priv), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("push-")
	pc.TCPAddr, pc.AdminAddr, pc.TokenPublicKey = "127.0.0.1:0", "127.0.0.1:0", pub
	pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), prefix
	p, err := StartPush(ctx, pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, p)

	checkAdmin(t, a.AdminAddr)
	checkAdmin(t, p.AdminAddr)
	exchange(t, a.HTTPAddr, p.PushAddr, p.Sessions)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStartDev_StopEndsEveryGoroutineItStarted(t *testing.T) {
	ctx := context.Background()
	cycle := func(withTraffic bool) {
		d, err := StartDev(ctx, devConfig(t, t.TempDir()), quiet())
		if err != nil {
			t.Fatal(err)
		}
		if withTraffic {
			exchange(t, d.HTTPAddr, d.PushAddr, d.Sessions)
			checkAdmin(t, d.AdminAddr)
		}
		if err := d.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first cycle starts process-wide pollers (netpoll, database/sql
	// openers of closed pools exit at once); measure after it.
	cycle(false)
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()
	cycle(true)
	http.DefaultClient.CloseIdleConnections()
	testenv.Eventually(t, 10*time.Second, func() bool { return runtime.NumGoroutine() <= base+1 },
		"goroutines after stop: %d, before start: %d", runtime.NumGoroutine(), base)
}
