package push

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// The churn drill: thousands of short-lived connections to one node while
// jobs stream to their users and, in the same process, other nodes start
// and stop. It was built to find the handshake failures the vanishing-
// clients test saw, and found three causes of one kind - a descriptor number
// used by someone who no longer owned it: netpoll's listener closing its
// number twice on every node stop (listener.go), a refusal closing a
// connection while netpoll was registering it (onConnect in conn.go), and,
// in -race builds only, netpoll's poller applying a closed connection's
// pending event to the connection accepted next on its number, which hung
// the new one up (third_party/netpoll, stale_event_test.go). Every
// connection checks that every byte it receives is addressed to it:
//   - its Welcome carries a session id no other connection got;
//   - the Pong to its Ping echoes its own nonce;
//   - every Message body names its own user (the pusher writes "to").
//
// and every handshake must succeed: on loopback with a 10 s handshake
// deadline, no backlog near somaxconn and no per-IP limit, nothing
// legitimate refuses one. The descriptor audit (fdaudit.go) checks the
// node's side. TETHER_CHURN_HANDSHAKES raises the count for longer runs.

// churnStats is what the drill's clients saw.
type churnStats struct {
	handshakes atomic.Int64 // completed
	failed     atomic.Int64 // dial or handshake errors
	frames     atomic.Int64 // whole frames read after the Welcome
	messages   atomic.Int64 // of which Message frames
	misrouted  atomic.Int64 // frames addressed to someone else, or unexpected
	sessions   sync.Map     // Welcome.SessionID -> struct{}

	mu     sync.Mutex
	errors []string // the first few failures, for the report
}

func (s *churnStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) < 10 {
		s.errors = append(s.errors, fmt.Sprintf(format, args...))
	}
}

// churnBody is the body of the drill's jobs: the user it is for.
type churnBody struct {
	Kind string `json:"kind"`
	To   int64  `json:"to"`
}

// churnClient is one connection's life: handshake, Ping, some reading, and
// an abrupt end.
type churnClient struct {
	uid   int64
	token string
	nonce uint64
	st    *churnStats
	rng   *rand.Rand
}

// run makes one connection to addr and reports whether its handshake worked.
func (cc *churnClient) run(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		cc.st.failed.Add(1)
		cc.st.fail("uid %d: %v", cc.uid, err)
		return false
	}
	defer nc.Close()
	tc := nc.(*net.TCPConn)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	hello := wire.AppendHello(nil, wire.Hello{Version: 1, Token: cc.token, Platform: "test", AppVersion: "churn/1"})
	var nonce [8]byte
	binary.BigEndian.PutUint64(nonce[:], cc.nonce)
	// The Ping goes right behind the Hello: its Pong must come back on this
	// connection, after the Welcome.
	if _, err := nc.Write(wire.AppendPing(hello, nonce[:])); err != nil {
		cc.st.failed.Add(1)
		cc.st.fail("uid %d: hello: %v", cc.uid, err)
		return false
	}
	r := bufio.NewReaderSize(nc, 4096)
	f, err := readFrame(r)
	if err != nil {
		cc.st.failed.Add(1)
		cc.st.fail("uid %d: welcome: %v", cc.uid, err)
		return false
	}
	if f.Type != wire.TypeWelcome {
		cc.st.failed.Add(1)
		cc.st.fail("uid %d: got %s %v, want welcome", cc.uid, f.Type, f.Reason)
		return false
	}
	if _, dup := cc.st.sessions.LoadOrStore(f.Welcome.SessionID, struct{}{}); dup {
		cc.st.misrouted.Add(1)
		cc.st.fail("uid %d: Welcome with session id %s, which another connection got", cc.uid, f.Welcome.SessionID)
	}
	cc.st.handshakes.Add(1)

	// Read until the Pong, then a little longer, then vanish mid-stream.
	ponged := false
	linger := time.Duration(cc.rng.IntN(3000)) * time.Microsecond
	for {
		if ponged {
			_ = nc.SetReadDeadline(time.Now().Add(linger))
		}
		f, err := readFrame(r)
		if err != nil {
			if !ponged {
				cc.st.failed.Add(1)
				cc.st.fail("uid %d: no Pong: %v", cc.uid, err)
			}
			break
		}
		cc.st.frames.Add(1)
		switch f.Type {
		case wire.TypePong:
			if string(f.Ping) != string(nonce[:]) {
				cc.st.misrouted.Add(1)
				cc.st.fail("uid %d: Pong %x, want %x", cc.uid, f.Ping, nonce)
			}
			ponged = true
		case wire.TypeMessage:
			cc.st.messages.Add(1)
			var b churnBody
			if err := json.Unmarshal(f.Message.Body, &b); err != nil || b.To != cc.uid {
				cc.st.misrouted.Add(1)
				cc.st.fail("uid %d: message v%d for %d (%v)", cc.uid, f.Message.Version, b.To, err)
			}
		default:
			cc.st.misrouted.Add(1)
			cc.st.fail("uid %d: unexpected %s %v", cc.uid, f.Type, f.Reason)
		}
	}
	if cc.rng.IntN(2) == 0 {
		_ = tc.SetLinger(0) // half of them reset instead of closing
	}
	return true
}

// readFrame reads one whole frame.
func readFrame(r *bufio.Reader) (wire.Frame, error) {
	hdr, err := r.Peek(wire.HeaderSize)
	if err != nil {
		return wire.Frame{}, err
	}
	_, n, err := wire.ParseHeader(hdr, MaxServerPayload)
	if err != nil {
		return wire.Frame{}, err
	}
	b := make([]byte, wire.HeaderSize+n)
	if _, err := io.ReadFull(r, b); err != nil {
		return wire.Frame{}, err
	}
	f, _, err := wire.Decode(b, MaxServerPayload)
	return f, err
}

func TestChurn_EveryHandshakeSucceedsAndEveryFrameReachesOnlyItsOwnerWhileOtherNodesStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.StreamBatch = 16
		c.HandshakeTimeout = 10 * time.Second
	})
	n := e.start()
	addr := n.TCPAddr().String()

	handshakes := 3000
	if s := os.Getenv("TETHER_CHURN_HANDSHAKES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("TETHER_CHURN_HANDSHAKES=%q", s)
		}
		handshakes = v
	}
	const (
		users   = 12
		devices = 4 // users*devices workers, each holding at most one socket
		budget  = 60 * time.Second
	)
	tokens := make([][]string, users)
	for u := range tokens {
		tokens[u] = make([]string, devices)
		for d := range tokens[u] {
			tokens[u][d] = e.token(int64(5000+u), fmt.Sprintf("dev%d", d))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bg sync.WaitGroup

	// Other nodes of the process start and stop all along.
	var restarts atomic.Int64
	nb := newEnv(t, nil)
	bg.Add(1)
	go func() {
		defer bg.Done()
		for ctx.Err() == nil {
			m := nb.newNode()
			if err := m.Start(ctx); err != nil {
				if ctx.Err() == nil {
					t.Errorf("neighbour start: %v", err)
				}
				return
			}
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := m.Stop(sctx)
			scancel()
			if err != nil {
				t.Errorf("neighbour stop: %v", err)
				return
			}
			restarts.Add(1)
		}
	}()

	// And, faster than whole nodes, listeners made as nodes make them open,
	// serve and shut down.
	var closes atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for ctx.Err() == nil {
			if err := cycleListener(ctx); err != nil {
				t.Errorf("listener cycle: %v", err)
				return
			}
			closes.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	// Jobs for one user each, naming the user in the body.
	var pushed atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		key := e.streams.Keys().Node(e.cfg.NodeID)
		versions := make([]uint64, users)
		for i := 0; ctx.Err() == nil; i++ {
			pipe := e.rdb.Pipeline()
			for range 8 {
				u := i % users
				versions[u]++
				i++
				body, _ := json.Marshal(churnBody{Kind: "message", To: int64(5000 + u)})
				b, err := job.Encode(job.Job{ID: testenv.Name("j"), Kind: job.KindMessage,
					Targets: []job.Target{{UserID: int64(5000 + u), Version: versions[u]}}, Body: body, EnqueuedMS: time.Now().UnixMilli()})
				if err != nil {
					t.Error(err)
					return
				}
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: map[string]any{stream.Field: b}})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				if ctx.Err() == nil {
					t.Errorf("xadd: %v", err)
				}
				return
			}
			pushed.Add(8)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var (
		st    churnStats
		left  atomic.Int64
		wg    sync.WaitGroup
		start = time.Now()
	)
	left.Store(int64(handshakes))
	for u := range users {
		for d := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc := &churnClient{uid: int64(5000 + u), token: tokens[u][d], st: &st,
					rng: rand.New(rand.NewPCG(uint64(u), uint64(d)))}
				for i := uint64(0); left.Add(-1) >= 0 && time.Since(start) < budget; i++ {
					cc.nonce = uint64(u)<<48 | uint64(d)<<32 | i
					cc.run(addr)
				}
			}()
		}
	}
	wg.Wait()
	cancel()
	bg.Wait()
	took := time.Since(start)
	t.Logf("%d handshakes in %v (%d failed), %d frames read (%d messages), %d misrouted, %d jobs pushed, %d neighbour restarts, %d listeners closed",
		st.handshakes.Load(), took.Round(time.Millisecond), st.failed.Load(), st.frames.Load(), st.messages.Load(),
		st.misrouted.Load(), pushed.Load(), restarts.Load(), closes.Load())
	for _, s := range st.errors {
		t.Log(s)
	}
	if st.failed.Load() != 0 || st.misrouted.Load() != 0 {
		t.Fatalf("%d handshakes failed and %d frames reached the wrong connection (first: %v)",
			st.failed.Load(), st.misrouted.Load(), st.errors)
	}
	if st.messages.Load() == 0 || restarts.Load() == 0 {
		t.Fatal("no message was delivered or no neighbour restarted during the churn: the drill did not exercise the node")
	}
	if got := st.handshakes.Load(); got < int64(handshakes)/2 {
		// The budget is a minute; only a stalled machine gets here.
		t.Fatalf("only %d of %d handshakes in %v", got, handshakes, budget)
	}
	if v := fdAudit.Load().report(); len(v) > 0 {
		t.Fatalf("descriptor audit: %d violations, the first: %s", len(v), v[0])
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return n.Sessions() == 0 }, "churned sessions removed")
}

// cycleListener opens a listener the way a node does, serves it with a
// netpoll event loop and shuts that down, which closes the listener.
func cycleListener(ctx context.Context) error {
	n := &Node{cfg: Config{TCPAddr: "127.0.0.1:0"}}
	ln, err := n.listen(ctx)
	if err != nil {
		return err
	}
	evl, err := netpoll.NewEventLoop(func(context.Context, netpoll.Connection) error { return nil })
	if err != nil {
		_ = ln.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = evl.Serve(ln)
	}()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownLoop(sctx, evl, done)
	return nil
}
