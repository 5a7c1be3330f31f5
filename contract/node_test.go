package contract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths, relative to this package's directory (go test runs tests there).
const (
	specPath = "../openapi.yaml"
	tsDir    = "ts"
)

// Time limits of the subprocesses; generous, as they only bound a hang.
const (
	npmCITimeout = 5 * time.Minute
	toolTimeout  = 2 * time.Minute
)

// lockStamp, inside node_modules, records the hash of the manifest, lockfile
// and Node version that node_modules was installed from.
const lockStamp = "node_modules/.tether-lock"

// requireNode fails the test when node, npm or npx is missing, or skips it
// when TETHER_SKIP_NODE=1 says so explicitly.
func requireNode(t *testing.T) {
	t.Helper()
	if os.Getenv("TETHER_SKIP_NODE") == "1" {
		t.Skip("TETHER_SKIP_NODE=1: skipping a test that needs Node.js")
	}
	for _, tool := range []string{"node", "npm", "npx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: install Node.js 18+ and npm (apt-get install nodejs npm), or set TETHER_SKIP_NODE=1 to skip the Node-based contract tests", tool)
		}
	}
}

var (
	npmOnce sync.Once
	npmErr  error
)

// nodeModules makes sure contract/ts/node_modules holds exactly what
// package-lock.json pins, running `npm ci` only when the lockfile (or the
// Node version) changed since the last install.
func nodeModules(t *testing.T) {
	t.Helper()
	requireNode(t)
	npmOnce.Do(func() { npmErr = installNodeModules() })
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

func installNodeModules() error {
	want, err := lockHash()
	if err != nil {
		return err
	}
	stamp := filepath.Join(tsDir, lockStamp)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmCITimeout)
	defer cancel()
	// --ignore-scripts: no dependency needs an install script, and one of
	// them would otherwise phone home with analytics.
	out, err := output(ctx, tsDir, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	if err != nil {
		return fmt.Errorf("npm ci in contract/ts: %w\n%s", err, out)
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}

// lockHash identifies an install: the manifest, the lockfile and the major
// Node version it ran under.
func lockHash() (string, error) {
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(tsDir, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	v, err := output(ctx, ".", "node", "--version")
	if err != nil {
		return "", fmt.Errorf("node --version: %w\n%s", err, v)
	}
	major, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	fmt.Fprintf(h, "node %s\n", major)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// toolEnv is the environment of the Node tools: quiet, and never asking the
// network anything the tests do not need.
func toolEnv(extra ...string) []string {
	env := append(os.Environ(),
		"SCARF_ANALYTICS=false",
		"NO_UPDATE_NOTIFIER=1",
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	return append(env, extra...)
}

// command builds a subprocess in its own process group, so that cancelling
// ctx kills it together with whatever it started (npx runs node, which may
// run more).
func command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Children holding the output pipes open must not block Wait forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// output runs a tool to completion and returns its combined output.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := command(ctx, dir, toolEnv(), name, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return buf.String(), err
}

// npx runs a locally installed Node tool of contract/ts (never fetching one)
// and fails the test on a non-zero exit.
func npx(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	defer cancel()
	var buf bytes.Buffer
	cmd := command(ctx, tsDir, toolEnv(env...), "npx", append([]string{"--no", "--"}, args...)...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("npx %s: %v\n%s", strings.Join(args, " "), errors.Join(err, ctx.Err()), buf.String())
	}
	return buf.String()
}
