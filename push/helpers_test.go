package push

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/blockmirror"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// env is one test's Redis slice, token keys and push node.
type env struct {
	t       testing.TB
	rdb     *redis.Client // healthy client for assertions
	prefix  string
	reg     *route.Registry
	streams *stream.Redis // the job streams, to publish jobs as the API does
	signer  *token.Signer
	priv    ed25519.PrivateKey
	verify  *token.Verifier
	down    atomic.Bool // makes the node's Redis unreachable
	nodeDB  *redis.Client
	m       *metrics.Metrics
	cfg     Config
	node    *Node
	tr      transport   // how dial reaches the node; set with on
	control ControlFunc // operators' requests (control.go); nil: refused
}

// on makes the env's clients use transport tr.
func (e *env) on(tr transport) *env {
	e.tr = tr
	return e
}

// noBlocks is a database without blocks, for blockmirror.Rebuild.
type noBlocks struct{}

func (noBlocks) BlockPairs(context.Context, blockmirror.Pair, int) ([]blockmirror.Pair, error) {
	return nil, nil
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, rdb: rdb, prefix: prefix, signer: token.NewSigner(priv, time.Hour), priv: priv, verify: token.NewVerifier(pub)}
	e.reg = route.NewRegistry(rdb, prefix, 3*time.Second)
	e.streams = stream.NewRedis(rdb, prefix, stream.Caps{})
	// Nodes refuse signals between users until the mirror of blocks is
	// complete, which an API process sees to; there is none here.
	if _, err := blockmirror.New(rdb, prefix).Rebuild(context.Background(), noBlocks{}); err != nil {
		t.Fatal(err)
	}
	// The node gets its own client whose dialer the test can cut, to
	// simulate a Redis outage without touching the shared server.
	e.nodeDB = redis.NewClient(&redis.Options{
		Addr:       testenv.RedisAddr(),
		MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if e.down.Load() {
				return nil, errors.New("test: redis is down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = e.nodeDB.Close() })
	e.cfg = Config{
		NodeID:           testenv.Name("node"),
		TCPAddr:          "127.0.0.1:0",
		WSAddr:           "127.0.0.1:0",
		NodeTTL:          3 * time.Second,
		AckFlushInterval: 50 * time.Millisecond,
		HandshakeTimeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	return e
}

// start creates and starts a node on the env's config.
func (e *env) start() *Node {
	e.t.Helper()
	n := e.newNode()
	if err := n.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if !n.stopping.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Stop(ctx)
		}
	})
	e.node = n
	return n
}

func (e *env) newNode() *Node {
	e.t.Helper()
	e.m = metrics.New()
	e.m.InstrumentRedis(e.nodeDB)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PUSH_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := New(e.cfg, Deps{
		Redis:    e.nodeDB,
		Registry: route.NewRegistry(e.nodeDB, e.prefix, e.cfg.NodeTTL),
		Verifier: e.verify,
		Metrics:  e.m,
		Log:      log,
		Control:  e.control,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// token signs a token for uid's device. Each device gets a platform of its
// own ("test-<device>"), so the default multi-device policy (one session per
// user and platform) keeps every device of a user; tests of the policy pick
// platforms with tokenOn (policy_test.go).
func (e *env) token(uid int64, device string) string {
	e.t.Helper()
	s, _, err := e.signer.Sign(token.Claims{UserID: uid, DeviceID: device, Platform: "test-" + device, SessionID: "s1"})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// dial opens a raw connection to the env's node over the env's transport.
func (e *env) dial() *tclient {
	e.t.Helper()
	if e.tr == overWS {
		return dialWS(e.t, e.node)
	}
	nc, err := net.DialTimeout("tcp", e.node.TCPAddr().String(), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = nc.Close() })
	return &tclient{t: e.t, nc: nc, r: bufio.NewReader(nc)}
}

// connect dials and completes a handshake as uid on device.
func (e *env) connect(uid int64, device string) (*tclient, wire.Welcome) {
	e.t.Helper()
	c := e.dial()
	c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(uid, device), Platform: "test", DeviceID: device, AppVersion: "t/1"}))
	f := c.read()
	if f.Type != wire.TypeWelcome {
		e.t.Fatalf("handshake: got %s %v, want welcome", f.Type, f.Reason)
	}
	return c, f.Welcome
}

// push XADDs jobs to the node's stream.
func (e *env) push(jobs ...job.Job) {
	e.t.Helper()
	pipe := e.rdb.Pipeline()
	for _, j := range jobs {
		b, err := job.Encode(j)
		if err != nil {
			e.t.Fatal(err)
		}
		pipe.XAdd(context.Background(), &redis.XAddArgs{Stream: e.streams.Keys().Node(e.cfg.NodeID), Values: map[string]any{stream.Field: b}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// pending is the number of entries read but not acked on the node's stream.
func (e *env) pending() int64 {
	e.t.Helper()
	p, err := e.rdb.XPending(context.Background(), e.streams.Keys().Node(e.cfg.NodeID), stream.NodeGroup).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Count
}

// counter reads a tether_calls_total or tether_errors_total sample.
func (e *env) counter(name, layer, label string) float64 {
	e.t.Helper()
	mfs, err := e.m.Gatherer().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var l, nm string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "layer":
					l = lp.GetValue()
				case "name":
					nm = lp.GetValue()
				}
			}
			if l == layer && nm == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func msgJob(body string, targets ...job.Target) job.Job {
	b, _ := json.Marshal(map[string]any{"kind": "message", "message": map[string]any{"text": body}})
	return job.Job{ID: testenv.Name("j"), Kind: job.KindMessage, Targets: targets, Body: b, EnqueuedMS: time.Now().UnixMilli()}
}

// tclient is a minimal raw protocol client built on push/wire, over raw
// TCP or, with ws set, WebSocket (transport_ws_test.go).
type tclient struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
	ws bool

	wsClose uint16 // WebSocket: the status of the server's Close frame, once read
	wsPong  string // WebSocket: the payload of the last control Pong read
}

// send writes b as is over TCP, or as one binary WebSocket message.
func (c *tclient) send(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if c.ws {
		b = wsClientFrame(true, 0x2, b, 0)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// sendPartial writes b as the start of something longer that never
// completes: the bytes over TCP, a binary message promising more over WebSocket.
func (c *tclient) sendPartial(b []byte) {
	c.t.Helper()
	if c.ws {
		b = wsClientFrame(true, 0x2, b, 16)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads one frame; the error is io.EOF-like once the server closed.
func (c *tclient) next(timeout time.Duration) (wire.Frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	if c.ws {
		return c.nextWS()
	}
	hdr := make([]byte, wire.HeaderSize)
	if _, err := io.ReadFull(c.r, hdr); err != nil {
		return wire.Frame{}, err
	}
	_, n, err := wire.ParseHeader(hdr, 16<<20)
	if err != nil {
		return wire.Frame{}, err
	}
	b := make([]byte, wire.HeaderSize+n)
	copy(b, hdr)
	if _, err := io.ReadFull(c.r, b[wire.HeaderSize:]); err != nil {
		return wire.Frame{}, err
	}
	f, _, err := wire.Decode(b, 16<<20)
	return f, err
}

func (c *tclient) read() wire.Frame {
	c.t.Helper()
	f, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expectReason reads until an Error or Close frame arrives and checks it.
func (c *tclient) expectReason(t wire.Type, code wire.Code) wire.Reason {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == wire.TypeError || f.Type == wire.TypeClose {
			if f.Type != t || f.Reason.Code != code {
				c.t.Fatalf("got %s(%s %q), want %s(%s)", f.Type, f.Reason.Code, f.Reason.Text, t, code)
			}
			return f.Reason
		}
	}
}

// expectClosed checks that the server closed the connection.
func (c *tclient) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.next(5 * time.Second)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open: %v", err)
		}
		return
	}
}

// messages reads n Message frames, skipping pongs.
func (c *tclient) messages(n int) []wire.Message {
	c.t.Helper()
	out := make([]wire.Message, 0, n)
	for len(out) < n {
		f := c.read()
		switch f.Type {
		case wire.TypeMessage:
			out = append(out, wire.Message{Version: f.Message.Version, Body: append([]byte(nil), f.Message.Body...)})
		case wire.TypePong, wire.TypeSync: // Sync is advisory: a route written late
		default:
			c.t.Fatalf("got %s %v while waiting for messages", f.Type, f.Reason)
		}
	}
	return out
}

func versions(ms []wire.Message) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("%d,", m.Version)
	}
	return s
}

func jobTarget(uid int64, v uint64) job.Target { return job.Target{UserID: uid, Version: v} }

// transport is how a test client reaches a node.
type transport string

const (
	overTCP transport = "tcp"
	overWS  transport = "ws"
)

// eachTransport runs body as a parallel subtest per transport, so one test
// body covers raw TCP and WebSocket alike.
func eachTransport(t *testing.T, body func(t *testing.T, tr transport)) {
	t.Helper()
	for _, tr := range []transport{overTCP, overWS} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			body(t, tr)
		})
	}
}
