package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// The hot-restart tests run `tether push`, built from this package, as a
// real process, with the clients in the test process; the upgrade is a
// real SIGUSR2 to that process. TETHER_TEST_UPGRADE_CLIENTS sets the
// number of clients (default 2000), e.g. 5000 for the measurement in the
// README.

// TestHotRestart_SIGUSR2UnderTraffic_EveryClientStaysConnectedAndGetsEveryMessageOnceInOrder
// upgrades a node process with a few thousand connected clients while
// message jobs flow to all of them. Every client must keep its connection
// (no EOF, no Close), receive every message exactly once and in order; the
// old process must exit and a new process serve the node's port, admin port
// and upgrade socket.
func TestHotRestart_SIGUSR2UnderTraffic_EveryClientStaysConnectedAndGetsEveryMessageOnceInOrder(t *testing.T) {
	n := 2000
	if s := os.Getenv("TETHER_TEST_UPGRADE_CLIENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 15000 {
			t.Fatalf("TETHER_TEST_UPGRADE_CLIENTS=%q: want 1..15000", s)
		}
	}
	r := runRestart(t, n, bySignal)
	if len(r.problems) > 0 {
		t.Fatalf("%d of %d clients failed the hot restart, e.g.:\n%s", len(r.problems), n, r.sample())
	}
	t.Logf("hot restart of a node with %d connections under traffic (%d messages each): signal to old-process exit %s; longest gap between two messages of one client during it %s (normal spacing %s)",
		n, r.rounds, r.took.Round(time.Millisecond), r.maxGap.Round(time.Millisecond), roundEvery)
}

// TestPlainRestart_SIGTERMAndStartAgain_FailsTheHotRestartAssertions is the
// control: the same clients, traffic and checks around a plain restart
// (SIGTERM, then the same command again) fail, so the hot-restart test's
// assertions do detect dropped connections and lost messages.
func TestPlainRestart_SIGTERMAndStartAgain_FailsTheHotRestartAssertions(t *testing.T) {
	const n = 200
	r := runRestart(t, n, plain)
	if len(r.problems) != n {
		t.Fatalf("a plain restart should fail every client's checks, failed %d of %d:\n%s", len(r.problems), n, r.sample())
	}
	t.Logf("plain restart, as expected: %s", r.sample())
}

// TestHotRestart_TetherPushUpgradeCommand_SignalsTheRunningNodeAndReturnsOnceTakenOver
// does the same through `tether push --upgrade` with the node's settings:
// it finds the running process by its upgrade socket, signals it and
// returns once a new process serves the node.
func TestHotRestart_TetherPushUpgradeCommand_SignalsTheRunningNodeAndReturnsOnceTakenOver(t *testing.T) {
	const n = 200
	r := runRestart(t, n, byCommand)
	if len(r.problems) > 0 {
		t.Fatalf("%d of %d clients failed the hot restart, e.g.:\n%s", len(r.problems), n, r.sample())
	}
}

// TestHotRestart_OperatorRequestOnTheNodeStream_EveryClientStaysConnected
// asks for the hot restart as the ops page does: a job.KindHotRestart on
// the node's job stream (route.ControlNode), read by the running process.
// The new process, which reads the stream after it, must not restart
// again.
func TestHotRestart_OperatorRequestOnTheNodeStream_EveryClientStaysConnected(t *testing.T) {
	const n = 200
	r := runRestart(t, n, byOperator)
	if len(r.problems) > 0 {
		t.Fatalf("%d of %d clients failed the hot restart, e.g.:\n%s", len(r.problems), n, r.sample())
	}
}

// TestDrain_OperatorRequestOnTheNodeStream_DrainsAndExits asks a running
// `tether push` to drain as the ops page does: its client is told to
// reconnect elsewhere, the node is listed draining then stopped, and the
// process exits cleanly.
func TestDrain_OperatorRequestOnTheNodeStream_DrainsAndExits(t *testing.T) {
	exe, err := buildTether()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	nodeID, tcpAddr, sock := testenv.Name("drain-"), freePort(t), filepath.Join(t.TempDir(), "up.sock")
	env := append(os.Environ(), "TETHER_NODE_ID="+nodeID, "TETHER_TCP_ADDR="+tcpAddr, "TETHER_ADMIN_ADDR="+freePort(t),
		"TETHER_REDIS_ADDR="+testenv.RedisAddr(), "TETHER_REDIS_PREFIX="+prefix, "TETHER_TOKEN_PUBLIC_KEY="+token.EncodePublic(pub),
		"TETHER_DRAIN_WINDOW=2s", "TETHER_SHUTDOWN_TIMEOUT=5s", "TETHER_UPGRADE_SOCKET="+sock, "TETHER_LOG_LEVEL=warn")
	logf, err := os.Create(filepath.Join(t.TempDir(), "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	proc := startNodeProc(t, exe, env, logf)
	reg := route.NewRegistry(rdb, prefix, 15*time.Second)
	state := func() string {
		nodes, _ := reg.Nodes(ctx)
		for _, n := range nodes {
			if n.ID == nodeID {
				return n.State
			}
		}
		return ""
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return state() == route.StateReady }, "the node never listed ready")
	tok, _, err := token.NewSigner(priv, time.Hour).Sign(token.Claims{UserID: 1, DeviceID: "d", Platform: "ios", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok})); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	frames := bufio.NewReader(nc)
	next := func() wire.Frame {
		t.Helper()
		var buf []byte
		chunk := make([]byte, 4096)
		for {
			f, _, err := wire.Decode(buf, 1<<20)
			if err == nil {
				return f
			}
			n, rerr := frames.Read(chunk)
			if rerr != nil {
				t.Fatalf("read: %v", rerr)
			}
			buf = append(buf, chunk[:n]...)
		}
	}
	if f := next(); f.Type != wire.TypeWelcome {
		t.Fatalf("first frame %s, want welcome", f.Type)
	}

	if err := route.ControlNode(ctx, stream.NewRedis(rdb, prefix, stream.Caps{}), nodeID, job.KindDrain, "ops test"); err != nil {
		t.Fatal(err)
	}
	if f := next(); f.Type != wire.TypeReconnect {
		t.Fatalf("after the drain request the client got %s, want reconnect", f.Type)
	}
	select {
	case <-proc.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not exit after draining")
	}
	if proc.err != nil {
		t.Fatalf("the drained process exited with %v", proc.err)
	}
	if st := state(); st != route.StateStopped {
		t.Fatalf("the drained node is listed %q, want stopped", st)
	}
}

// restartMode is how runRestart restarts the node.
type restartMode int

const (
	bySignal   restartMode = iota // hot: SIGUSR2 to the node process
	byCommand                     // hot: tether push --upgrade
	byOperator                    // hot: a hot_restart job on the node's stream, as the ops page sends
	plain                         // SIGTERM, then the same command again
)

// roundEvery is the spacing of message rounds: each round sends every
// client its next message.
const roundEvery = 20 * time.Millisecond

type restartResult struct {
	problems []string
	rounds   int
	took     time.Duration // signal to old-process exit
	maxGap   time.Duration // longest time between two messages of a client, across the restart
}

func (r restartResult) sample() string {
	s := ""
	for i, p := range r.problems {
		if i == 5 {
			break
		}
		s += "  " + p + "\n"
	}
	return s
}

// upClient is one raw protocol client and what it received.
type upClient struct {
	uid  int64
	nc   net.Conn
	mu   sync.Mutex
	got  []uint64
	at   []time.Time
	err  error // why reading stopped, if it did
	done chan struct{}
}

func (c *upClient) read(maxPayload int) {
	defer close(c.done)
	r := bufio.NewReader(c.nc)
	hdr := make([]byte, wire.HeaderSize)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			c.fail(err)
			return
		}
		_, size, err := wire.ParseHeader(hdr, maxPayload)
		if err != nil {
			c.fail(err)
			return
		}
		b := make([]byte, wire.HeaderSize+size)
		copy(b, hdr)
		if _, err := io.ReadFull(r, b[wire.HeaderSize:]); err != nil {
			c.fail(err)
			return
		}
		f, _, err := wire.Decode(b, maxPayload)
		if err != nil {
			c.fail(err)
			return
		}
		switch f.Type {
		case wire.TypeMessage:
			c.mu.Lock()
			c.got = append(c.got, f.Message.Version)
			c.at = append(c.at, time.Now())
			c.mu.Unlock()
		case wire.TypeWelcome, wire.TypePong:
		default:
			c.fail(fmt.Errorf("unexpected %s frame %v", f.Type, f.Reason))
			return
		}
	}
}

func (c *upClient) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *upClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// nodeProc is a `tether push` process the test started.
type nodeProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startNodeProc(t *testing.T, exe string, env []string, logw *os.File) *nodeProc {
	t.Helper()
	cmd := exec.Command(exe, "push")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logw, logw // files: inherited as they are, also by a successor
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// buildTether builds ./cmd/tether once per test binary run.
var buildTether = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tether-upgrade-test")
	if err != nil {
		return "", err
	}
	exe := filepath.Join(dir, "tether")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return exe, nil
})

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runRestart runs a node process with n clients under message traffic and
// restarts it as mode says. It returns every client's problems.
func runRestart(t *testing.T, n int, mode restartMode) restartResult {
	hot := mode != plain
	exe, err := buildTether()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rdb, prefix := testenv.Redis(t)
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewSigner(priv, time.Hour)
	nodeID := testenv.Name("up-")
	tcpAddr, adminAddr := freePort(t), freePort(t)
	sock := filepath.Join(t.TempDir(), "up.sock")
	env := append(os.Environ(),
		"TETHER_NODE_ID="+nodeID,
		"TETHER_TCP_ADDR="+tcpAddr,
		"TETHER_ADMIN_ADDR="+adminAddr,
		"TETHER_REDIS_ADDR="+testenv.RedisAddr(),
		"TETHER_REDIS_PREFIX="+prefix,
		"TETHER_TOKEN_PUBLIC_KEY="+token.EncodePublic(pub),
		"TETHER_IDLE_TIMEOUT=10m", // the clients send no pings
		"TETHER_DRAIN_WINDOW=1s",
		"TETHER_SHUTDOWN_TIMEOUT=5s",
		"TETHER_UPGRADE_SOCKET="+sock,
		"TETHER_LOG_LEVEL="+cmp.Or(os.Getenv("TETHER_TEST_UPGRADE_LOG"), "warn"),
	)
	logr, logw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	go func() { // the node processes' logs, in the test's output
		defer close(logDone)
		sc := bufio.NewScanner(logr)
		for sc.Scan() {
			t.Log("node: " + sc.Text())
		}
	}()
	t.Cleanup(func() { _ = logr.Close(); <-logDone }) // runs last: the processes are gone
	old := startNodeProc(t, exe, env, logw)
	var successor int // the hot restart's new process; killed at the end
	t.Cleanup(func() {
		if successor > 0 {
			_ = syscall.Kill(successor, syscall.SIGKILL)
		}
	})
	testenv.Eventually(t, 30*time.Second, func() bool {
		pid, err := handoff.Owner(sock)
		return err == nil && pid == old.cmd.Process.Pid
	}, "the node process did not start")

	// Connect every client.
	clients := make([]*upClient, n)
	base := time.Now().UnixNano() % 1e12 * 1000
	for i := range clients {
		uid := base + int64(i)
		tok, _, err := signer.Sign(token.Claims{UserID: uid, DeviceID: "d", Platform: "android", SessionID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, Platform: "android", DeviceID: "d", AppVersion: "t/1"})); err != nil {
			t.Fatal(err)
		}
		c := &upClient{uid: uid, nc: nc, done: make(chan struct{})}
		clients[i] = c
		go c.read(wire.DefaultMaxPayload)
	}
	// Every session is routed before traffic starts, so no message targets
	// a user whose handshake is still under way.
	reg := route.NewRegistry(rdb, prefix, 15*time.Second)
	testenv.Eventually(t, 60*time.Second, func() bool {
		return sessionsRouted(ctx, rdb, reg, clients)
	}, "not every client completed its handshake")

	// Traffic: one message per client per round, several targets per entry.
	stopTraffic := make(chan struct{})
	trafficDone := make(chan int)
	go func() {
		key := stream.Keys{Prefix: prefix}.Node(nodeID)
		round := 0
		tick := time.NewTicker(roundEvery)
		defer tick.Stop()
		for {
			select {
			case <-stopTraffic:
				trafficDone <- round
				return
			case <-tick.C:
			}
			round++
			pipe := rdb.Pipeline()
			for lo := 0; lo < n; lo += 250 {
				j := job.Job{ID: fmt.Sprintf("r%d-%d", round, lo), Kind: job.KindMessage, Body: json.RawMessage(`{"text":"x"}`), EnqueuedMS: time.Now().UnixMilli()}
				for _, c := range clients[lo:min(lo+250, n)] {
					j.Targets = append(j.Targets, job.Target{UserID: c.uid, Version: uint64(round)})
				}
				b, _ := job.Encode(j)
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: map[string]any{stream.Field: b}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Errorf("XADD: %v", err)
			}
		}
	}()
	testenv.Eventually(t, 30*time.Second, func() bool { return allHave(clients, 10) }, "traffic did not reach every client")

	// The restart.
	start := time.Now()
	var took time.Duration
	if hot {
		if mode == byCommand {
			up := exec.Command(exe, "push", "--upgrade") // the node's settings find its socket
			up.Env = env
			out, err := up.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "took over") {
				t.Fatalf("tether push --upgrade: %v\n%s", err, out)
			}
			t.Logf("tether push --upgrade:\n%s", out)
		} else if mode == byOperator {
			if err := route.ControlNode(ctx, stream.NewRedis(rdb, prefix, stream.Caps{}), nodeID, job.KindHotRestart, "ops test"); err != nil {
				t.Fatal(err)
			}
		} else if err := old.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		select {
		case <-old.done:
		case <-time.After(90 * time.Second):
			t.Fatal("the old process did not exit after SIGUSR2")
		}
		took = time.Since(start)
		if old.err != nil {
			t.Errorf("the old process exited with %v", old.err)
		}
		// The new process opens its own upgrade socket once it serves,
		// which may be just after the old one exited.
		testenv.Eventually(t, 10*time.Second, func() bool {
			pid, err := handoff.Owner(sock)
			if err == nil && pid != old.cmd.Process.Pid && syscall.Kill(pid, 0) == nil {
				successor = pid
			}
			return successor > 0
		}, "no new process serves the upgrade socket")
		if mode == byOperator {
			// The new process read the request too, and left it alone.
			time.Sleep(2 * time.Second)
			if pid, err := handoff.Owner(sock); err != nil || pid != successor {
				t.Fatalf("after the operator's hot restart the socket is served by %d (%v), want the successor %d only", pid, err, successor)
			}
		}
		// The admin listener moved too.
		resp, err := http.Get("http://" + adminAddr + "/healthz")
		if err != nil {
			t.Errorf("admin after the hot restart: %v", err)
		} else {
			_ = resp.Body.Close()
		}
	} else {
		_ = old.cmd.Process.Signal(syscall.SIGTERM)
		<-old.done
		took = time.Since(start)
		startNodeProc(t, exe, env, logw)
		testenv.Eventually(t, 30*time.Second, func() bool { _, err := handoff.Owner(sock); return err == nil }, "the node did not start again")
	}
	_ = logw.Close() // the node processes hold their copies
	// Traffic goes on a little, then every message must arrive.
	time.Sleep(500 * time.Millisecond)
	close(stopTraffic)
	rounds := <-trafficDone
	if hot {
		testenv.Eventually(t, 60*time.Second, func() bool { return allHave(clients, rounds) }, "not every message arrived after the hot restart")
	} else {
		time.Sleep(2 * time.Second)
	}

	res := restartResult{rounds: rounds, took: took}
	for _, c := range clients {
		c.mu.Lock()
		switch {
		case c.err != nil:
			res.problems = append(res.problems, fmt.Sprintf("user %d: connection lost: %v (after %d messages)", c.uid, c.err, len(c.got)))
		case !inOrderOnce(c.got, rounds):
			res.problems = append(res.problems, fmt.Sprintf("user %d: got %d messages, want 1..%d once in order", c.uid, len(c.got), rounds))
		}
		for i := 1; i < len(c.at); i++ {
			if c.at[i].After(start) && c.at[i-1].Before(start.Add(took)) {
				res.maxGap = max(res.maxGap, c.at[i].Sub(c.at[i-1]))
			}
		}
		c.mu.Unlock()
	}
	return res
}

func inOrderOnce(got []uint64, rounds int) bool {
	if len(got) != rounds {
		return false
	}
	for i, v := range got {
		if v != uint64(i+1) {
			return false
		}
	}
	return true
}

func allHave(clients []*upClient, k int) bool {
	for _, c := range clients {
		if c.count() < k {
			return false
		}
	}
	return true
}

// sessionsRouted reports whether every client's session has its route.
func sessionsRouted(ctx context.Context, rdb *redis.Client, reg *route.Registry, clients []*upClient) bool {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(clients))
	for i, c := range clients {
		cmds[i] = pipe.Exists(ctx, reg.Keys().Route(c.uid))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false
	}
	for _, c := range cmds {
		if c.Val() == 0 {
			return false
		}
	}
	return true
}
