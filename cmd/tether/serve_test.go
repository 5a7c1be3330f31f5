package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

// serve runs a serving subcommand until its log shows want, returning the
// log so far and a stop function that cancels it (as SIGINT/SIGTERM do)
// and returns its exit code and full log.
func serve(t *testing.T, args []string, env map[string]string, want string) (log func() string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &errb)
	}()
	stop = func() (int, string) {
		cancel()
		select {
		case code := <-done:
			return code, errb.String()
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop:\n%s", args[0], errb.String())
			return 0, ""
		}
	}
	if !waitFor(20*time.Second, func() bool { return strings.Contains(errb.String(), want) }) {
		stop()
		t.Fatalf("%s did not log %q:\n%s", args[0], want, errb.String())
	}
	return errb.String, stop
}

var addrRe = regexp.MustCompile(`\sadmin=(127\.0\.0\.1:[1-9]\d*)`)

func adminReady(t *testing.T, log string) {
	t.Helper()
	m := addrRe.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no admin address in the log:\n%s", log)
	}
	resp, err := http.Get("http://" + m[1] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
}

func TestDev_StopsGracefullyOnSignal(t *testing.T) {
	t.Parallel()
	args := []string{"dev", "--http", "127.0.0.1:0", "--push", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir()}
	log, stop := serve(t, args, nil, "dev started")
	adminReady(t, log())
	code, out := stop()
	if code != 0 || !strings.Contains(out, "dev stopped") {
		t.Fatalf("code %d:\n%s", code, out)
	}
}

// The production processes configured only through the environment, as
// the deployments do.
func TestAPIAndPush_RunFromEnvironmentAndStopOnSignal(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQL(t)
	_, prefix := testenv.Redis(t)
	if code, _, stderr := runCmd(context.Background(), nil, "migrate", "--mysql", dsn, "--log-level", "error"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	_, keys, _ := runCmd(context.Background(), nil, "keygen")
	env := map[string]string{
		"TETHER_MYSQL_DSN":    dsn,
		"TETHER_REDIS_ADDR":   testenv.RedisAddr(),
		"TETHER_REDIS_PREFIX": prefix,
		"TETHER_HTTP_ADDR":    "127.0.0.1:0",
		"TETHER_TCP_ADDR":     "127.0.0.1:0",
		"TETHER_ADMIN_ADDR":   "127.0.0.1:0",
		"TETHER_NODE_ID":      testenv.Name("push-"),
	}
	for _, line := range strings.Split(strings.TrimSpace(keys), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	apiLog, stopAPI := serve(t, []string{"api"}, env, "api started")
	pushLog, stopPush := serve(t, []string{"push"}, env, "push started")
	adminReady(t, apiLog())
	adminReady(t, pushLog())
	if strings.Contains(apiLog(), env["TETHER_TOKEN_PRIVATE_KEY"]) {
		t.Error("the api logged its private key")
	}
	for name, stop := range map[string]func() (int, string){"api": stopAPI, "push": stopPush} {
		if code, out := stop(); code != 0 || !strings.Contains(out, name+" stopped") {
			t.Errorf("%s: code %d:\n%s", name, code, out)
		}
	}
}
