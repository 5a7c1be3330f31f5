package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// healthz is the admin /healthz body.
type healthz struct {
	Status       string `json:"status"`
	Dependencies map[string]struct {
		Up        bool    `json:"up"`
		LatencyMS float64 `json:"latency_ms"`
		LastError string  `json:"last_error"`
	} `json:"dependencies"`
}

func getHealthz(t *testing.T, admin string) healthz {
	t.Helper()
	code, body := get(t, "http://"+admin+"/healthz")
	if code != http.StatusOK {
		t.Fatalf("healthz = %d %s; liveness must not follow dependencies", code, body)
	}
	var h healthz
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthz body %q: %v", body, err)
	}
	return h
}

// Redis is a weak dependency of the API: chat (send, sync) needs only
// MySQL, so with Redis killed every API pod must stay in service, and say
// that Redis is down in /healthz and the tether_dependency_up gauge.
func TestWeakDeps_APIStaysReadyAndChatWorksWithRedisKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQL(t)
	s, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rs := testenv.StartRedis(t)
	priv, _ := keyPair(t)
	cfg := apiConfig(t, dsn, testenv.Name("t")+":", priv)
	cfg.Redis.Addr = rs.Addr()
	a, err := StartAPI(ctx, cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	base := "http://" + a.HTTPAddr
	api := client.NewAPI(base, nil)
	bob, err := api.Register(ctx, "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice, err := api.Login(ctx, "alice", password, "alice-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	bobTok, err := api.Login(ctx, "bob", password, "bob-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}

	rs.Kill()

	for _, url := range []string{"http://" + a.AdminAddr + "/readyz", base + "/readyz"} {
		if code, body := get(t, url); code != http.StatusOK {
			t.Fatalf("%s = %d %s with Redis killed; want 200", url, code, body)
		}
	}
	msg, created, err := api.Send(ctx, alice.AccessToken, bob.ID, "c-1", "text", json.RawMessage(`{"text":"hi"}`))
	if err != nil || !created {
		t.Fatalf("send with Redis killed: created=%v err=%v", created, err)
	}
	page, err := api.Sync(ctx, bobTok.AccessToken, 0, 100)
	if err != nil {
		t.Fatalf("sync with Redis killed: %v", err)
	}
	found := false
	for _, e := range page.Entries {
		if e.Message != nil && e.Message.ID == msg.ID {
			found = true
		}
	}
	if !found {
		t.Fatalf("bob's sync lacks message %d: %+v", msg.ID, page)
	}

	// Redis's outage is reported, not hidden: the probes see it.
	testenv.Eventually(t, 20*time.Second, func() bool {
		h := getHealthz(t, a.AdminAddr)
		r, db := h.Dependencies["redis"], h.Dependencies["database"]
		return !r.Up && r.LastError != "" && db.Up && h.Dependencies["schema"].Up
	}, "healthz reports redis down, database and schema up")
	_, metrics := get(t, "http://"+a.AdminAddr+"/metrics")
	for _, want := range []string{`tether_dependency_up{dep="redis"} 0`, `tether_dependency_up{dep="database"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Nor does an API restarted during a Redis outage stay out of service: it
// starts, is ready and serves chat.
func TestWeakDeps_APIStartsReadyWithRedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQL(t)
	s, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rs := testenv.StartRedis(t)
	rs.Kill()
	priv, _ := keyPair(t)
	cfg := apiConfig(t, dsn, testenv.Name("t")+":", priv)
	cfg.Redis.Addr = rs.Addr()
	a, err := StartAPI(ctx, cfg, quiet())
	if err != nil {
		t.Fatalf("start with Redis down: %v", err)
	}
	stopOnCleanup(t, a)
	if code, body := get(t, "http://"+a.AdminAddr+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d %s", code, body)
	}
	api := client.NewAPI("http://"+a.HTTPAddr, nil)
	bob, err := api.Register(ctx, "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice, err := api.Login(ctx, "alice", password, "alice-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.Send(ctx, alice.AccessToken, bob.ID, "c-1", "text", json.RawMessage(`{"text":"hi"}`)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// A push node connected to a Redis it cannot use must not report ready,
// though that Redis answers PING: here a Redis Cluster node that answers
// MOVED for the node's heartbeat key. Pointed at a usable Redis (the
// address's backend replaced, as a Service's would be) it turns ready.
func TestWeakDeps_PushNodeOnARedisAnsweringMOVEDIsNotReadyUntilPointedAtAUsableOne(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartRedisCluster(t, 3)
	prefix := testenv.Name("t") + ":"
	nodeID := testenv.Name("moved-")
	wrong := cluster.NodeWithout(t, route.Keys{Prefix: prefix}.Node(nodeID))
	proxy := testenv.StartProxy(t, wrong.Addr())

	pub, _, _ := token.GenerateKey()
	pc := config.DefaultPush()
	pc.NodeID = nodeID
	pc.TCPAddr, pc.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	pc.Redis.Addr, pc.Redis.Prefix = proxy.Addr(), prefix
	pc.TokenPublicKey = token.EncodePublic(pub)
	pc.NodeTTL = 3 * time.Second // a heartbeat a second
	pc.DrainWindow = time.Second
	p, err := StartPush(context.Background(), pc, quiet())
	if err != nil {
		t.Fatalf("a node whose Redis answers PING must start (and report unready): %v", err)
	}
	stopOnCleanup(t, p)

	readyz := func() (int, string) { return get(t, "http://"+p.AdminAddr+"/readyz") }
	// Several heartbeats and stream reads: it never turns ready.
	for range 3 {
		if code, body := readyz(); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d %s on a cluster node answering MOVED; want 503", code, body)
		}
		time.Sleep(time.Second)
	}
	h := getHealthz(t, p.AdminAddr)
	if r := h.Dependencies["redis"]; !strings.Contains(r.LastError, "MOVED") {
		t.Fatalf("healthz redis = %+v; want the MOVED error", r)
	}
	_, metrics := get(t, "http://"+p.AdminAddr+"/metrics")
	if !strings.Contains(metrics, `tether_dependency_usable{dep="redis"} 0`) {
		t.Error(`metrics lack tether_dependency_usable{dep="redis"} 0`)
	}

	usable := testenv.StartRedis(t)
	proxy.Retarget(usable.Addr())
	testenv.Eventually(t, 30*time.Second, func() bool { code, _ := readyz(); return code == http.StatusOK },
		"readyz 200 once the node's Redis is usable")
}

// The same for a replica, which answers READONLY to every write: the node
// stays unready until its address leads to the primary.
func TestWeakDeps_PushNodeOnAReadOnlyReplicaIsNotReadyUntilPointedAtThePrimary(t *testing.T) {
	t.Parallel()
	primary := testenv.StartRedis(t)
	host, port, _ := strings.Cut(primary.Addr(), ":")
	replica := testenv.StartRedis(t, "--replicaof", host, port)
	proxy := testenv.StartProxy(t, replica.Addr())

	pub, _, _ := token.GenerateKey()
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("replica-")
	pc.TCPAddr, pc.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	pc.Redis.Addr, pc.Redis.Prefix = proxy.Addr(), testenv.Name("t")+":"
	pc.TokenPublicKey = token.EncodePublic(pub)
	pc.NodeTTL = 3 * time.Second
	pc.DrainWindow = time.Second
	p, err := StartPush(context.Background(), pc, quiet())
	if err != nil {
		t.Fatalf("a node whose Redis answers PING must start (and report unready): %v", err)
	}
	stopOnCleanup(t, p)
	readyz := func() int { code, _ := get(t, "http://"+p.AdminAddr+"/readyz"); return code }
	for range 3 {
		if code := readyz(); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d on a read-only replica; want 503", code)
		}
		time.Sleep(time.Second)
	}
	if r := getHealthz(t, p.AdminAddr).Dependencies["redis"]; !strings.Contains(r.LastError, "READONLY") {
		t.Fatalf("healthz redis = %+v; want the READONLY error", r)
	}
	proxy.Retarget(primary.Addr())
	testenv.Eventually(t, 30*time.Second, func() bool { return readyz() == http.StatusOK },
		"readyz 200 once the node's Redis is the primary")
}
