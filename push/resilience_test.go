package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// redisServer is a redis-server process of the test's own, so the test can
// kill and restart it: the shared test Redis must stay up for other tests.
type redisServer struct {
	t       *testing.T
	bin     string
	port    int
	dir     string // data directory; persistence on when set
	cmd     *exec.Cmd
	waitErr chan error
}

// startRedisServer starts redis-server on a free loopback port. With
// persist, data goes to an append-only file fsynced on every write, so a
// kill -9 loses nothing; without it a restart comes back empty.
func startRedisServer(t *testing.T, persist bool) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed; the Redis restart tests need their own server process")
	}
	r := &redisServer{t: t, bin: bin, port: freePort(t)}
	if persist {
		r.dir = t.TempDir()
	}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start (re)starts the server on its port and data directory.
func (r *redisServer) start() { r.cmd, r.waitErr = r.run(r.port) }

// run starts a server process on port with r's data directory and waits
// until it answers.
func (r *redisServer) run(port int) (*exec.Cmd, chan error) {
	r.t.Helper()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", ""}
	if r.dir != "" {
		args = append(args, "--dir", r.dir, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(r.bin, args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return cmd, done
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			r.t.Fatalf("redis-server on %d did not come up: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL: no shutdown, no final save.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.waitErr
	r.cmd = nil
}

// useRedis points the env (its node's client, the test's client and the
// registry) at addr instead of the shared test Redis.
func useRedis(e *env, addr string) {
	e.rdb = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	e.nodeDB = redis.NewClient(&redis.Options{
		Addr:       addr,
		MaxRetries: -1,
		Dialer: func(ctx context.Context, network, a string) (net.Conn, error) {
			if e.down.Load() {
				return nil, errors.New("test: redis is down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		},
	})
	e.t.Cleanup(func() { _ = e.rdb.Close(); _ = e.nodeDB.Close() })
	e.reg = route.NewRegistry(e.rdb, e.prefix, e.cfg.NodeTTL)
}

// untilMessage reads frames until a Message and returns it, with the Sync
// frames seen before it.
func (c *tclient) untilMessage() (wire.Message, []uint64) {
	c.t.Helper()
	var syncs []uint64
	for {
		f := c.read()
		switch f.Type {
		case wire.TypeMessage:
			return f.Message, syncs
		case wire.TypeSync:
			syncs = append(syncs, f.Current)
		case wire.TypePong:
		default:
			c.t.Fatalf("got %s %v while waiting for a message", f.Type, f.Reason)
		}
	}
}

// untilSync reads frames until a Sync and returns its version.
func (c *tclient) untilSync() uint64 {
	c.t.Helper()
	for {
		f := c.read()
		switch f.Type {
		case wire.TypeSync:
			return f.Current
		case wire.TypePong:
		default:
			c.t.Fatalf("got %s %v while waiting for a sync", f.Type, f.Reason)
		}
	}
}

// pingPong checks the node answers a heartbeat.
func (c *tclient) pingPong() {
	c.t.Helper()
	c.send(wire.AppendPing(nil, []byte{7}))
	for {
		f := c.read()
		if f.Type == wire.TypePong {
			return
		}
		if f.Type != wire.TypeSync {
			c.t.Fatalf("got %s %v while waiting for a pong", f.Type, f.Reason)
		}
	}
}

// xadd queues jobs on the stream at key through rdb.
func xadd(t *testing.T, rdb *redis.Client, key string, jobs ...job.Job) {
	t.Helper()
	for _, j := range jobs {
		b, err := job.Encode(j)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: map[string]any{stream.Field: b}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func routeOf(e *env, uid int64) string {
	r, err := e.reg.Lookup(context.Background(), []int64{uid})
	if err != nil || len(r[uid]) != 1 {
		return ""
	}
	return r[uid][0].ConnID
}

func TestRedisRestartEmpty_NodeKeepsClientsAcceptsHandshakesThenRewritesRoutesAndDelivers(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t, false)
	e := newEnv(t, nil)
	useRedis(e, rs.addr())
	n := e.start()
	c1, w1 := e.connect(1, "d")
	testenv.Eventually(t, 5*time.Second, func() bool { return routeOf(e, 1) == w1.SessionID }, "route of 1")

	rs.kill()
	// The node keeps its connection and answers heartbeats...
	c1.pingPong()
	// ...and still accepts handshakes: the token is checked locally.
	c2, w2 := e.connect(2, "d")
	if w2.Flags&wire.FlagVersionUnknown == 0 {
		t.Fatalf("welcome during outage = %+v, want version_unknown", w2)
	}
	time.Sleep(1500 * time.Millisecond) // a node heartbeat and several stream reads fail
	c1.pingPong()
	if n.Sessions() != 2 {
		t.Fatalf("sessions = %d during outage", n.Sessions())
	}

	rs.start() // same port, no data: routes, node key, stream and group are gone
	ctx := context.Background()
	testenv.Eventually(t, 15*time.Second, func() bool {
		return e.rdb.Exists(ctx, e.reg.Keys().Node(e.cfg.NodeID)).Val() == 1 &&
			routeOf(e, 1) == w1.SessionID && routeOf(e, 2) == w2.SessionID
	}, "node key and both routes written again")

	// The relay's path: announce the new versions, queue the job.
	if _, err := e.reg.Announce(ctx, map[int64]uint64{1: 1, 2: 1}); err != nil {
		t.Fatal(err)
	}
	e.push(msgJob("after", jobTarget(1, 1), jobTarget(2, 1)))
	m1, syncs1 := c1.untilMessage()
	m2, _ := c2.untilMessage()
	if m1.Version != 1 || m2.Version != 1 {
		t.Fatalf("versions %d %d", m1.Version, m2.Version)
	}
	// Redis lost whatever was queued for c1 before the restart: its route
	// was rewritten and it was told to sync.
	if len(syncs1) == 0 {
		t.Fatal("session whose route Redis lost got no Sync")
	}
}

// Found by tether drill (redis-kill): Redis killed and started again
// empty between two node heartbeats. The stream consumer sees NOGROUP
// first and recreates the stream and group with a heartbeat, which also
// writes the node key again, so the heartbeat loop never saw the key
// missing: the routes Redis forgot were never rewritten, and online
// clients got nothing pushed until they reconnected.
func TestRedisRestartEmpty_BetweenHeartbeats_RoutesRewrittenAndSessionsToldToSync(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t, false)
	// Heartbeats every 5s: the consumer's retry (100ms) comes first.
	e := newEnv(t, func(c *Config) { c.NodeTTL = 15 * time.Second })
	useRedis(e, rs.addr())
	e.start()
	c1, w1 := e.connect(1, "d")
	testenv.Eventually(t, 5*time.Second, func() bool { return routeOf(e, 1) == w1.SessionID }, "route of 1")

	rs.kill()
	rs.start() // at once: no heartbeat fails in between
	testenv.Eventually(t, 10*time.Second, func() bool { return routeOf(e, 1) == w1.SessionID },
		"route of 1 written again")
	ctx := context.Background()
	if _, err := e.reg.Announce(ctx, map[int64]uint64{1: 1}); err != nil {
		t.Fatal(err)
	}
	e.push(msgJob("after", jobTarget(1, 1)))
	m, syncs := c1.untilMessage()
	if m.Version != 1 {
		t.Fatalf("version %d", m.Version)
	}
	if len(syncs) == 0 {
		t.Fatal("session whose route Redis lost got no Sync")
	}
}

func TestRedisRestartWithData_PendingAndQueuedJobsDeliveredAndLateRouteToldToSync(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t, true)
	e := newEnv(t, nil)
	useRedis(e, rs.addr())
	n := e.start()
	ctx := context.Background()
	c1, _ := e.connect(1, "d")
	e.push(msgJob("before", jobTarget(1, 1)))
	if m, _ := c1.untilMessage(); m.Version != 1 {
		t.Fatalf("version %d", m.Version)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return e.pending() == 0 }, "first job acked")

	rs.kill()
	c2, w2 := e.connect(2, "d") // accepted during the outage: its route waits
	if w2.Flags&wire.FlagVersionUnknown == 0 {
		t.Fatalf("welcome during outage = %+v, want version_unknown", w2)
	}

	// While the node cannot reach Redis, the same data is served on another
	// port (a partition: relays still write). Job 2 is read by the node's
	// consumer name but never acked (as if the node read it just before
	// Redis went away); job 3 is queued after. User 2 gets a message while
	// it has no route: only its version moves.
	side := *rs
	sidePort := freePort(t)
	cmd, done := side.run(sidePort)
	sc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(sidePort)})
	key := e.streams.Keys().Node(e.cfg.NodeID)
	xadd(t, sc, key, msgJob("pending", jobTarget(1, 2)))
	got, err := sc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: stream.NodeGroup, Consumer: e.cfg.NodeID, Streams: []string{key, ">"}, Count: 1}).Result()
	if err != nil || len(got) != 1 || len(got[0].Messages) != 1 {
		t.Fatalf("making job 2 pending: %v %v", got, err)
	}
	xadd(t, sc, key, msgJob("queued", jobTarget(1, 3)))
	sreg := route.NewRegistry(sc, e.prefix, e.cfg.NodeTTL)
	if sess, err := sreg.Announce(ctx, map[int64]uint64{2: 5}); err != nil || len(sess[2]) != 0 {
		t.Fatalf("announce: %v %v", sess, err)
	}
	_ = sc.Close()
	_ = cmd.Process.Kill()
	<-done

	rs.start() // the original port, the data of the side server
	m2, _ := c1.untilMessage()
	m3, _ := c1.untilMessage()
	if m2.Version != 2 || m3.Version != 3 {
		t.Fatalf("after restart got versions %d, %d; want the pending 2 then the queued 3", m2.Version, m3.Version)
	}
	// The late route came with version 5 > what c2 was told: it must sync.
	if v := c2.untilSync(); v != 5 {
		t.Fatalf("sync frame version %d, want 5", v)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return e.pending() == 0 }, "recovered jobs acked")
	if n.Sessions() != 2 {
		t.Fatalf("sessions = %d", n.Sessions())
	}
	if got := fmt.Sprint(routeOf(e, 2) == w2.SessionID); got != "true" {
		t.Fatal("late route not registered")
	}
}
