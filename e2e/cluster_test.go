package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/stack"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// childNodeEnv makes the test binary run a push node instead of the tests:
// the cluster test needs a node in a process of its own to kill -9.
const childNodeEnv = "TETHER_E2E_CHILD_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(childNodeEnv) != "" {
		os.Exit(runChildNode())
	}
	os.Exit(m.Run())
}

// runChildNode runs `tether push` configured from TETHER_* variables,
// prints "READY <addr>" once it serves, and drains on SIGTERM.
func runChildNode() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := config.LoadPush(nil, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 2
	}
	p, err := stack.StartPush(ctx, cfg, quiet())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 1
	}
	fmt.Printf("READY %s\n", p.PushAddr)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(sctx); err != nil {
		return 1
	}
	return 0
}

// childNode is a push node in its own process.
type childNode struct {
	id, addr string
	cmd      *exec.Cmd
	done     chan error
}

func startChildNode(t *testing.T, env []string) *childNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childNodeEnv+"=1")...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childNode{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- addr
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() { c.kill() })
	select {
	case c.addr = <-ready:
	case err := <-c.done:
		t.Fatalf("child node exited: %v", err)
	case <-time.After(30 * time.Second):
		c.kill()
		t.Fatal("child node did not start")
	}
	return c
}

// kill ends the process with SIGKILL: no drain, no deregistration.
func (c *childNode) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
		c.done <- nil // later kills return at once
	case <-time.After(10 * time.Second):
	}
}

// receiver is one user whose client may sit on any of the nodes.
type receiver struct {
	name   string
	id     int64
	c      *client.Client
	mu     sync.Mutex
	got    []tether.Entry
	pushes map[string]int
}

func (r *receiver) add(e tether.Entry) {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
}

func (r *receiver) onPush(p client.Push) {
	r.mu.Lock()
	r.pushes[p.ID]++
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) pushCount(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pushes[id]
}

// TestCluster_ThreeNodesDeliverBroadcastAndKickAcrossNodes_Kill9LosesNothing
// runs the API on MySQL and three push nodes on one Redis, the third in a
// process of its own. Receivers' clients know all three addresses and start
// at a random one. It checks delivery from the API to every node, a broadcast
// reaching every node's sessions, a login on one node kicking the same
// user's session on another; then kills the third node with SIGKILL while
// messages keep coming: its clients move to the other nodes and every
// receiver ends with every message exactly once, in order; the dead node's
// key expires and no route names it any more.
func TestCluster_ThreeNodesDeliverBroadcastAndKickAcrossNodes_Kill9LosesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cl := startCluster(t, ctx, 2, nil)
	rdb, prefix, pub, nodes, base := cl.rdb, cl.prefix, cl.pub, cl.nodes, cl.base
	const nodeTTL = clusterNodeTTL
	childID := testenv.Name("node2-")
	child := startChildNode(t, []string{
		"TETHER_NODE_ID=" + childID,
		"TETHER_TCP_ADDR=127.0.0.1:0",
		"TETHER_ADMIN_ADDR=127.0.0.1:0",
		"TETHER_REDIS_ADDR=" + testenv.RedisAddr(),
		"TETHER_REDIS_PREFIX=" + prefix,
		"TETHER_TOKEN_PUBLIC_KEY=" + token.EncodePublic(pub),
		"TETHER_NODE_TTL=" + nodeTTL.String(),
		"TETHER_LOG_LEVEL=error",
	})
	addrs := []string{nodes[0].PushAddr, nodes[1].PushAddr, child.addr}

	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice, err := rest.Login(ctx, "alice", password, "alice-desk", "desktop")
	if err != nil {
		t.Fatal(err)
	}

	// Receivers spread over the nodes by their clients' random start. With
	// 24 of them, none on the child node would take a (2/3)^24 draw.
	const receivers = 24
	rs := make([]*receiver, receivers)
	var runs sync.WaitGroup
	rctx, stopClients := context.WithCancel(ctx)
	t.Cleanup(func() { stopClients(); runs.Wait() })
	for i := range rs {
		r := &receiver{name: fmt.Sprintf("r%02d", i), pushes: map[string]int{}}
		u, err := rest.Register(ctx, r.name, password)
		if err != nil {
			t.Fatal(err)
		}
		r.id = u.ID
		r.c = client.New(client.Config{
			APIBase: base, PushAddrs: addrs,
			Username: r.name, Password: password, Platform: "android",
			Handler: r.add, OnPush: r.onPush,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			Logger: quietLog(),
		})
		rs[i] = r
		runs.Add(1)
		go func() { defer runs.Done(); _ = r.c.Run(rctx) }()
	}
	onChild := func() int { return receivers - nodes[0].Sessions() - nodes[1].Sessions() }
	testenv.Eventually(t, 20*time.Second, func() bool {
		return routedTo(t, rdb, prefix, rs, "") == receivers
	}, "every receiver connected and routed")
	if n := routedTo(t, rdb, prefix, rs, childID); n == 0 || onChild() != n {
		t.Fatalf("%d receivers routed to the child node (%d by session count): the kill would prove nothing", n, onChild())
	}
	t.Logf("receivers per node: %d, %d, %d (child)", nodes[0].Sessions(), nodes[1].Sessions(), onChild())

	sent := map[int64][]string{}
	send := func(round string, per int) {
		t.Helper()
		for i := range per {
			for _, r := range rs {
				id := fmt.Sprintf("%s-%s-%d", r.name, round, i)
				body, _ := json.Marshal(map[string]string{"text": id})
				if _, _, err := rest.Send(ctx, alice.AccessToken, r.id, id, tether.MessageText, body); err != nil {
					t.Fatalf("send %s: %v", id, err)
				}
				sent[r.id] = append(sent[r.id], id)
			}
		}
	}
	allHave := func(n int) func() bool {
		return func() bool {
			for _, r := range rs {
				if r.count() < n {
					return false
				}
			}
			return true
		}
	}

	// 1. Delivery across nodes: the API's relay routes each message to
	// its receiver's node, whichever it is.
	send("live", 5)
	testenv.Eventually(t, 30*time.Second, allHave(5), "every receiver got the live round")
	for _, r := range rs {
		if s := r.c.Stats(); s.MessagesRecv == 0 {
			t.Fatalf("%s got nothing by push: %+v", r.name, s)
		}
	}

	// 2. Broadcast across nodes: one entry on the broadcast stream reaches
	// the sessions of all three nodes.
	b, _ := json.Marshal(map[string]string{"title": "to everyone"})
	if _, err := stream.NewRedis(rdb, prefix, stream.Caps{}).Broadcast(ctx, job.Job{ID: "b1", Kind: job.KindBroadcast, PushID: "b1", Body: b, EnqueuedMS: time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, r := range rs {
			if r.pushCount("b1") == 0 {
				return false
			}
		}
		return true
	}, "the broadcast reached the receivers of every node")

	// 3. Kick across nodes: carol's phone on node 0, then carol logs in on
	// another phone (same platform) on node 1: the first session is kicked.
	if _, err := rest.Register(ctx, "carol", password); err != nil {
		t.Fatal(err)
	}
	carol := func(device, addr string) (*client.Client, chan error) {
		c := client.New(client.Config{APIBase: base, PushAddr: addr, Username: "carol", Password: password,
			DeviceID: device, Platform: "ios", MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: quietLog()})
		errc := make(chan error, 1)
		runs.Add(1)
		go func() { defer runs.Done(); errc <- c.Run(rctx) }()
		return c, errc
	}
	first, firstErr := carol("carol-old", nodes[0].PushAddr)
	testenv.Eventually(t, 10*time.Second, func() bool { return first.Stats().Connects == 1 }, "carol's first phone connected")
	second, _ := carol("carol-new", nodes[1].PushAddr)
	select {
	case err := <-firstErr:
		var ke *client.KickedError
		if !errors.As(err, &ke) || ke.Code != wire.CodeReplaced {
			t.Fatalf("carol's first phone ended with %v, want a replaced kick", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("carol's first phone was not kicked by the login on another node")
	}
	if second.Stats().Connects != 1 {
		t.Fatalf("carol's second phone: %+v", second.Stats())
	}

	// 4. kill -9 the child node while messages keep coming.
	child.kill()
	send("failover", 5)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return nodes[0].Sessions()+nodes[1].Sessions() >= receivers+1 // + carol's second phone
	}, "the child node's clients reconnected to the other nodes")
	send("after", 5)
	const total = 15
	testenv.Eventually(t, 60*time.Second, allHave(total), "every receiver has all %d messages", total)

	// The dead node's key expires with its TTL, and its routes are no
	// longer there: its clients' devices now route to the live nodes.
	testenv.Eventually(t, 3*nodeTTL, func() bool {
		return rdb.Exists(ctx, route.Keys{Prefix: prefix}.Node(childID)).Val() == 0
	}, "the dead node's key expired")
	if n := routedTo(t, rdb, prefix, rs, childID); n != 0 {
		t.Fatalf("%d routes still name the dead node", n)
	}

	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	for _, r := range rs {
		r.mu.Lock()
		got := append([]tether.Entry(nil), r.got...)
		r.mu.Unlock()
		want := sent[r.id]
		if len(got) != len(want) {
			t.Fatalf("%s saw %d entries, want exactly %d", r.name, len(got), len(want))
		}
		for i, e := range got {
			if e.Version != uint64(i+1) || e.Message == nil || e.Message.ClientMsgID != want[i] {
				t.Fatalf("%s entry %d = v%d %+v, want v%d %s", r.name, i, e.Version, e.Message, i+1, want[i])
			}
		}
	}
}

// TestCluster_DrainMovesEveryClientToTheOtherNodeWithoutLoss stops one of
// two nodes the way SIGTERM does (stack.Push.Stop drains) while messages keep
// coming: every client gets a Reconnect, moves to the other node and syncs,
// and every receiver ends with every message exactly once, in order.
func TestCluster_DrainMovesEveryClientToTheOtherNodeWithoutLoss(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// 20 reconnects a second: the drained node's clients leave over about
	// half a second rather than all at once.
	cl := startCluster(t, ctx, 2, func(c *config.PushConfig) { c.DrainRate = 20 })
	rest := client.NewAPI(cl.base, nil)
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice, err := rest.Login(ctx, "alice", password, "alice-desk", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	const receivers = 16
	rs := make([]*receiver, receivers)
	var runs sync.WaitGroup
	rctx, stopClients := context.WithCancel(ctx)
	t.Cleanup(func() { stopClients(); runs.Wait() })
	for i := range rs {
		r := &receiver{name: fmt.Sprintf("d%02d", i), pushes: map[string]int{}}
		u, err := rest.Register(ctx, r.name, password)
		if err != nil {
			t.Fatal(err)
		}
		r.id = u.ID
		r.c = client.New(client.Config{
			APIBase: cl.base, PushAddrs: []string{cl.nodes[0].PushAddr, cl.nodes[1].PushAddr},
			Username: r.name, Password: password, Platform: "web", Handler: r.add,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: quietLog(),
		})
		rs[i] = r
		runs.Add(1)
		go func() { defer runs.Done(); _ = r.c.Run(rctx) }()
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return routedTo(t, cl.rdb, cl.prefix, rs, "") == receivers }, "every receiver connected")
	onDrained := cl.nodes[0].Sessions()
	if onDrained == 0 {
		t.Fatal("no receiver on the node to drain: the drain would prove nothing")
	}

	// Alice keeps sending while the node drains.
	var mu sync.Mutex
	sent := map[int64][]string{}
	sendDone := make(chan error, 1)
	stopSending := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				sendDone <- nil
				return
			default:
			}
			r := rs[i%receivers]
			id := fmt.Sprintf("%s-%d", r.name, i)
			body, _ := json.Marshal(map[string]string{"text": id})
			if _, _, err := rest.Send(ctx, alice.AccessToken, r.id, id, tether.MessageText, body); err != nil {
				sendDone <- err
				return
			}
			mu.Lock()
			sent[r.id] = append(sent[r.id], id)
			mu.Unlock()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	err = cl.nodes[0].Stop(sctx) // what SIGTERM does in tether push
	scancel()
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	// Clients leave on their Reconnect and come back within its window.
	testenv.Eventually(t, 10*time.Second, func() bool { return cl.nodes[1].Sessions() == receivers },
		"every client on the other node (has %d)", lazyInt(cl.nodes[1].Sessions))
	time.Sleep(200 * time.Millisecond)
	close(stopSending)
	if err := <-sendDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, r := range rs {
		total += len(sent[r.id])
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		for _, r := range rs {
			if r.count() < len(sent[r.id]) {
				return false
			}
		}
		return true
	}, "every receiver has every message")
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	moved := 0
	for _, r := range rs {
		r.mu.Lock()
		got := append([]tether.Entry(nil), r.got...)
		r.mu.Unlock()
		want := sent[r.id]
		if len(got) != len(want) {
			t.Fatalf("%s saw %d entries, want exactly %d", r.name, len(got), len(want))
		}
		for i, e := range got {
			if e.Version != uint64(i+1) || e.Message == nil || e.Message.ClientMsgID != want[i] {
				t.Fatalf("%s entry %d = v%d %+v, want v%d %s", r.name, i, e.Version, e.Message, i+1, want[i])
			}
		}
		s := r.c.Stats()
		if s.Reconnects > 0 {
			moved++
		}
		if s.DeadConns != 0 {
			t.Fatalf("%s: a connection died instead of moving: %+v", r.name, s)
		}
	}
	if moved != onDrained {
		t.Fatalf("%d clients reconnected, want the %d of the drained node", moved, onDrained)
	}
	t.Logf("%d messages to %d receivers; %d moved off the drained node", total, receivers, moved)
}

// lazyInt formats as f() when printed, so a failure message shows the final value.
type lazyInt func() int

func (f lazyInt) String() string { return fmt.Sprint(f()) }

// clusterNodeTTL is short so that a dead node's key expires within the test.
const clusterNodeTTL = 3 * time.Second

// cluster is the API on a fresh MySQL database and push nodes in-process,
// all on one Redis key prefix.
type cluster struct {
	base   string // REST API base URL
	rdb    *redis.Client
	prefix string
	pub    ed25519.PublicKey
	nodes  []*stack.Push
}

func startCluster(t *testing.T, ctx context.Context, nodes int, mod func(*config.PushConfig)) *cluster {
	t.Helper()
	dsn := testenv.MySQL(t)
	db, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cl := &cluster{}
	cl.rdb, cl.prefix = testenv.Redis(t)
	pub, priv, _ := token.GenerateKey()
	cl.pub = pub

	ac := config.DefaultAPI()
	ac.HTTPAddr, ac.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	ac.MySQLDSN = dsn
	ac.Redis.Addr, ac.Redis.Prefix = testenv.RedisAddr(), cl.prefix
	ac.TokenPrivateKey = token.EncodePrivate(priv)
	ac.Throttle.SendRate = 0 // one sender sends rounds of 120 as fast as it can: delivery is tested here, not limits
	a, err := stack.StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	cl.base = "http://" + a.HTTPAddr

	for i := range nodes {
		pc := config.DefaultPush()
		pc.NodeID = testenv.Name(fmt.Sprintf("node%d-", i))
		pc.TCPAddr, pc.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), cl.prefix
		pc.TokenPublicKey = token.EncodePublic(pub)
		pc.NodeTTL = clusterNodeTTL
		if mod != nil {
			mod(&pc)
		}
		p, err := stack.StartPush(ctx, pc, quiet())
		if err != nil {
			t.Fatal(err)
		}
		stopOnCleanup(t, p)
		cl.nodes = append(cl.nodes, p)
	}
	return cl
}

// routedTo counts the receivers whose route names node (any live route
// when node is empty).
func routedTo(t *testing.T, rdb *redis.Client, prefix string, rs []*receiver, node string) int {
	t.Helper()
	keys := route.Keys{Prefix: prefix}
	n := 0
	for _, r := range rs {
		m, err := rdb.HGetAll(context.Background(), keys.Route(r.id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range m {
			if node == "" || strings.HasPrefix(v, node+"|") {
				n++
				break
			}
		}
	}
	return n
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
