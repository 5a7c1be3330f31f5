// Package e2e drives a whole Tether deployment the way applications do: REST
// through push/client's API, live delivery through push/client's Client. It
// runs once against MySQL + Redis (tether api + tether push) and once
// against the embedded mode (tether dev).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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

const password = "e2e-password-123"

// deployment is what a scenario needs from a running Tether.
type deployment struct {
	apiBase  string
	pushAddr string
	sessions func() int
}

func quiet() stack.Option { return stack.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func stopOnCleanup(t *testing.T, s interface{ Stop(context.Context) error }) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// startProduction starts `tether api` and `tether push` in-process against
// the real MariaDB (a fresh database) and Redis (a fresh key prefix).
func startProduction(t *testing.T) deployment {
	ctx := context.Background()
	dsn := testenv.MySQL(t)
	db, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, prefix := testenv.Redis(t)
	pub, priv, _ := token.GenerateKey()

	ac := config.DefaultAPI()
	ac.HTTPAddr, ac.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	ac.MySQLDSN = dsn
	ac.Redis.Addr, ac.Redis.Prefix = testenv.RedisAddr(), prefix
	ac.TokenPrivateKey = token.EncodePrivate(priv)
	ac.Throttle.SendRate = 0 // one sender sends 1,000 messages as fast as it can: delivery is tested here, not limits
	a, err := stack.StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)

	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("node-")
	pc.TCPAddr, pc.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), prefix
	pc.TokenPublicKey = token.EncodePublic(pub)
	p, err := stack.StartPush(ctx, pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, p)
	return deployment{apiBase: "http://" + a.HTTPAddr, pushAddr: p.PushAddr, sessions: p.Sessions}
}

// startDev starts `tether dev` in-process: SQLite and an in-process Redis.
func startDev(t *testing.T) deployment {
	c := config.DefaultDev()
	c.HTTPAddr, c.PushAddr, c.WSAddr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.DataDir = t.TempDir()
	c.Throttle.SendRate = 0 // as in startProduction
	d, err := stack.StartDev(context.Background(), c, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	return deployment{apiBase: "http://" + d.HTTPAddr, pushAddr: d.PushAddr, sessions: d.Sessions}
}

func TestE2E_NoLossNoDuplicatesInOrderAcrossDisconnect_MySQLRedis(t *testing.T) {
	t.Parallel()
	noLossAcrossDisconnect(t, startProduction(t))
}

func TestE2E_NoLossNoDuplicatesInOrderAcrossDisconnect_Dev(t *testing.T) {
	t.Parallel()
	noLossAcrossDisconnect(t, startDev(t))
}

// inbox records what bob's application is handed.
type inbox struct {
	mu      sync.Mutex
	entries []tether.Entry
}

func (b *inbox) add(e tether.Entry) {
	b.mu.Lock()
	b.entries = append(b.entries, e)
	b.mu.Unlock()
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// noLossAcrossDisconnect: alice sends 1,000 messages to bob. Bob is online for
// the first 500, offline for the next 300 (they keep arriving), and back for
// the last 200. Bob's application must see exactly 1,000 messages, each once,
// in the order alice sent them, with versions 1..1000.
func noLossAcrossDisconnect(t *testing.T, d deployment) {
	const total, online1, offline = 1000, 500, 300
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rest := client.NewAPI(d.apiBase, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := rest.Register(ctx, u, password); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	alice, err := rest.Login(ctx, "alice", password, "alice-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := rest.UserByName(ctx, alice.AccessToken, "bob")
	if err != nil {
		t.Fatal(err)
	}

	var box inbox
	bobClient := func(last uint64) *client.Client {
		return client.New(client.Config{
			APIBase: d.apiBase, PushAddr: d.pushAddr,
			Username: "bob", Password: password, DeviceID: "bob-phone", Platform: "android",
			LastVersion: last, Handler: box.add, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}
	runBob := func(c *client.Client) (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(rctx) }()
		return func() { rcancel(); <-done }
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			body, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("hello %d", i)})
			if _, _, err := rest.Send(ctx, alice.AccessToken, bob.ID, fmt.Sprintf("m-%d", i), tether.MessageText, body); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
	}

	start := time.Now()
	first := bobClient(0)
	stopFirst := runBob(first)
	testenv.Eventually(t, 10*time.Second, func() bool { return d.sessions() == 1 }, "bob connected")
	send(0, online1)
	testenv.Eventually(t, 30*time.Second, func() bool { return box.len() >= online1 }, "bob got the first %d live (has %d)", online1, box.len())
	liveStats := first.Stats()
	stopFirst()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.sessions() == 0 }, "bob disconnected")

	send(online1, online1+offline) // bob is offline: these wait in his timeline

	second := bobClient(first.LastVersion())
	stopSecond := runBob(second)
	defer stopSecond()
	send(online1+offline, total)
	testenv.Eventually(t, 30*time.Second, func() bool { return box.len() >= total }, "bob has all %d (has %d)", total, box.len())
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond) // anything extra (a duplicate) would arrive now

	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.entries) != total {
		t.Fatalf("bob's application saw %d entries, want exactly %d", len(box.entries), total)
	}
	for i, e := range box.entries {
		if e.Version != uint64(i+1) {
			t.Fatalf("entry %d has version %d, want %d (order or duplicate broken)", i, e.Version, i+1)
		}
		if e.Kind != tether.EntryMessage || e.Message == nil || e.Message.ClientMsgID != fmt.Sprintf("m-%d", i) || e.Message.SenderID != alice.UserID {
			t.Fatalf("entry %d is %+v, want alice's m-%d", i, e, i)
		}
	}
	s1, s2 := liveStats, second.Stats()
	// The live phase must have been carried by push frames, not by REST sync.
	if s1.MessagesRecv < online1 {
		t.Fatalf("live phase: only %d of %d entries arrived as push frames", s1.MessagesRecv, online1)
	}
	// The reconnect must have caught up the offline stretch by sync.
	if s2.Syncs == 0 {
		t.Fatalf("second connection never synced: %+v", s2)
	}
	t.Logf("%d messages sent and received in %v (%.0f msg/s, sequential REST sends)", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	t.Logf("live phase: %d pushed, client frames sent %d (acks %d, pings %d) = %.1f per 1,000 delivered",
		s1.MessagesRecv, s1.FramesSent, s1.AcksSent, s1.PingsSent, 1000*float64(s1.FramesSent)/float64(s1.Delivered))
	t.Logf("after reconnect: %+v", s2)
}
