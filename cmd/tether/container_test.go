//go:build linux

package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

// The shipped container runs `tether init -- tether push` (the image's
// entrypoint) with nothing writable but the temporary directory (an
// emptyDir at /tmp in Kubernetes, a tmpfs in compose) and no
// --upgrade-socket: the socket and the switches file are derived from
// TMPDIR. This runs that set-up as processes and hot-restarts the node the
// documented way (`kubectl exec <pod> -- tether push --upgrade`, which runs
// `tether push --upgrade` with the pod's environment): the node changes
// process, the first process (init) stays, a connected client notices
// nothing, and SIGTERM to init (what a pod stop sends) drains the node that
// serves now and ends the container.
func TestContainer_HotRestartUnderInitWithOnlyTheTempDirWritable(t *testing.T) {
	exe, err := buildTether()
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "ct") // short: Unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	_, prefix := testenv.Redis(t)
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	nodeID := testenv.Name("ct-")
	tcpAddr, adminAddr, wsAddr := freePort(t), freePort(t), freePort(t)
	// The container's environment: no HOME, nothing inherited from the test.
	env := []string{
		"PATH=" + filepath.Dir(exe) + ":/usr/bin:/bin",
		"TMPDIR=" + tmp,
		"TETHER_NODE_ID=" + nodeID,
		"TETHER_TCP_ADDR=" + tcpAddr,
		"TETHER_WS_ADDR=" + wsAddr,
		"TETHER_ADMIN_ADDR=" + adminAddr,
		"TETHER_REDIS_ADDR=" + testenv.RedisAddr(),
		"TETHER_REDIS_PREFIX=" + prefix,
		"TETHER_TOKEN_PUBLIC_KEY=" + token.EncodePublic(pub),
		"TETHER_DRAIN_WINDOW=1s",
		"TETHER_SHUTDOWN_TIMEOUT=5s",
		"TETHER_LOG_LEVEL=warn",
	}
	var logs bytes.Buffer
	initCmd := exec.Command(exe, "init", "--", "tether", "push")
	initCmd.Env, initCmd.Stdout, initCmd.Stderr = env, &logs, &logs
	if err := initCmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- initCmd.Wait() }()
	t.Cleanup(func() {
		_ = initCmd.Process.Kill()
		if t.Failed() {
			t.Logf("processes' output:\n%s", logs.String())
		}
	})
	sock := filepath.Join(tmp, "tether-push-"+nodeID+".sock")
	var first int
	testenv.Eventually(t, 30*time.Second, func() bool {
		first, err = handoff.Owner(sock)
		return err == nil
	}, "the node under init did not open its upgrade socket in TMPDIR")
	if first == initCmd.Process.Pid {
		t.Fatal("init itself serves the node")
	}

	tok, _, err := token.NewSigner(priv, time.Hour).Sign(token.Claims{UserID: 1, DeviceID: "d", Platform: "android", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, Platform: "android", DeviceID: "d"})); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, nc, wire.TypeWelcome)

	up := exec.Command(exe, "push", "--upgrade")
	up.Env = env
	out, err := up.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "took over") {
		t.Fatalf("tether push --upgrade: %v\n%s", err, out)
	}
	now, err := handoff.Owner(sock)
	if err != nil || now == first {
		t.Fatalf("after the hot restart the socket is served by %d (%v), before by %d", now, err, first)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return parentOf(now) == initCmd.Process.Pid }, "the new process was not re-parented to init")
	select {
	case err := <-exited:
		t.Fatalf("init exited with the old process: %v", err)
	default:
	}
	if _, err := nc.Write(wire.AppendPing(nil, []byte("hi"))); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, nc, wire.TypePong)

	if err := initCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("init after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM to init did not stop the node that serves now")
	}
}

// expectFrame reads frames until one of type want (Reconnect and Sync may come first).
func expectFrame(t *testing.T, nc net.Conn, want wire.Type) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		for {
			f, n, err := wire.Decode(buf, 1<<20)
			if err != nil {
				break
			}
			buf = buf[n:]
			if f.Type == want {
				return
			}
		}
		n, err := nc.Read(tmp)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		buf = append(buf, tmp[:n]...)
	}
}

// parentOf is pid's parent, from /proc.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
