package rest

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/api/throttle"
)

// newThrottledEnv is an env whose server applies cfg (on the env's Redis);
// proxies are its trusted proxies.
func newThrottledEnv(t *testing.T, cfg throttle.Config, proxies ...netip.Prefix) *env {
	t.Helper()
	return newEnvDSN(t, store.DriverSQLite, t.TempDir()+"/tether.db", slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}),
		func(d *Deps, rdb *redis.Client, prefix string) {
			d.Throttle = throttle.New(cfg, rdb, prefix, d.Metrics, d.Log)
			d.TrustedProxies = proxies
		})
}

func (e *env) login(name, password string, header map[string]string) resp {
	e.t.Helper()
	return e.do(req{Method: "POST", Path: "/v1/sessions", Header: header, Body: map[string]string{
		"username": name, "password": password, "device_id": "d1", "platform": "web",
	}})
}

// wantRateLimited checks a 429 rate_limited problem with a Retry-After of
// whole seconds, and returns the wait.
func (r resp) wantRateLimited(t *testing.T) time.Duration {
	t.Helper()
	r.wantProblem(t, 429, tether.ERATELIMITED)
	sec, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || sec < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
	}
	return time.Duration(sec) * time.Second
}

func TestLogin_EleventhWrongPasswordForOneUsernameIs429WithRetryAfter(t *testing.T) {
	t.Parallel()
	e := newThrottledEnv(t, throttle.Config{LoginPerUser: 10, LoginPerIP: 1000})
	e.signup("alice")
	for i := range 10 {
		if r := e.login("alice", "wrong password!", nil); r.Status != 401 {
			t.Fatalf("wrong password %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// Now even the right password is not checked, whatever the case of the name.
	wait := e.login("ALICE", "password-alice", nil).wantRateLimited(t)
	if wait > time.Minute/10+time.Second {
		t.Fatalf("Retry-After %v: one attempt comes back every 6 s", wait)
	}
	// Another username is not affected.
	e.signup("bobby")
	e.login("bobby", "password-bobby", nil).decode(t, 201, nil)
}

func TestLogin_PerAddressLimitCountsAcrossUsernames(t *testing.T) {
	t.Parallel()
	proxy := netip.MustParsePrefix("192.0.2.1/32") // httptest's peer address
	e := newThrottledEnv(t, throttle.Config{LoginPerUser: 1000, LoginPerIP: 5}, proxy)
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	for i := range 5 {
		if r := e.login(fmt.Sprintf("user%d", i), "wrong password!", from("198.51.100.7")); r.Status != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	e.login("someone-else", "wrong password!", from("198.51.100.7")).wantRateLimited(t)
	// Another client behind the same trusted proxy has its own count.
	if r := e.login("user0", "wrong password!", from("198.51.100.8")); r.Status != 401 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
}

// X-Forwarded-For from an untrusted peer is ignored: a client cannot pick
// the address it is counted under.
func TestLogin_ForwardedForFromAnUntrustedPeerIsIgnored(t *testing.T) {
	t.Parallel()
	e := newThrottledEnv(t, throttle.Config{LoginPerIP: 3})
	for i := range 3 {
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}
		if r := e.login("user", "wrong password!", hdr); r.Status != 401 {
			t.Fatalf("attempt %d: %d", i+1, r.Status)
		}
	}
	e.login("user", "wrong password!", map[string]string{"X-Forwarded-For": "203.0.113.99"}).wantRateLimited(t)
}

func TestLogin_SuccessClearsTheUsernamesCount(t *testing.T) {
	t.Parallel()
	e := newThrottledEnv(t, throttle.Config{LoginPerUser: 3})
	e.signup("carol") // its login is the first attempt, and clears the count
	for range 2 {
		e.login("carol", "wrong password!", nil).wantProblem(t, 401, tether.EUNAUTHORIZED)
	}
	e.login("carol", "password-carol", nil).decode(t, 201, nil)
	for range 3 {
		e.login("carol", "wrong password!", nil).wantProblem(t, 401, tether.EUNAUTHORIZED)
	}
	e.login("carol", "password-carol", nil).wantRateLimited(t)
}

func TestRegister_PerAddressLimit(t *testing.T) {
	t.Parallel()
	e := newThrottledEnv(t, throttle.Config{RegisterPerIP: 3})
	for i := range 3 {
		e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]string{"username": fmt.Sprintf("new%d", i), "password": "long enough pw"}}).decode(t, 201, nil)
	}
	e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]string{"username": "new9", "password": "long enough pw"}}).wantRateLimited(t)
}

func TestSend_OverTheUsersRateIs429ForOneToOneAndGroupSendsThenResets(t *testing.T) {
	t.Parallel()
	e := newThrottledEnv(t, throttle.Config{SendRate: 5, SendBurst: 5})
	alice, bob := e.signup("alice"), e.signup("bobby")
	var g tether.Group
	e.do(req{Method: "POST", Path: "/v1/groups", Token: alice.Tokens.AccessToken, Body: map[string]any{"name": "Team", "member_ids": []int64{bob.ID}}}).decode(t, 201, &g)
	sendGroup := func(id string) resp {
		return e.do(req{Method: "POST", Path: "/v1/messages", Token: alice.Tokens.AccessToken, Body: map[string]any{
			"group_id": g.ID, "client_msg_id": id, "type": "text", "content": map[string]string{"text": id},
		}})
	}
	for i := range 3 {
		e.send(alice, bob.ID, fmt.Sprint("d", i), "hi")
	}
	for i := range 2 {
		sendGroup(fmt.Sprint("g", i)).decode(t, 201, nil)
	}
	wait := sendGroup("g-over").wantRateLimited(t)
	e.do(req{Method: "POST", Path: "/v1/messages", Token: alice.Tokens.AccessToken, Body: map[string]any{
		"recipient_id": bob.ID, "client_msg_id": "d-over", "type": "text", "content": map[string]string{"text": "x"},
	}}).wantRateLimited(t)
	// Bob has his own budget.
	e.send(bob, alice.ID, "b0", "hi")
	// After the wait the next send goes through.
	time.Sleep(wait)
	e.send(alice, bob.ID, "d-after", "hi")
}

// Redis down: the limits let requests through (fail open) and count them.
func TestThrottle_FailsOpenWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = dead.Close() })
	e := newEnvDSN(t, store.DriverSQLite, t.TempDir()+"/tether.db", slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}),
		func(d *Deps, _ *redis.Client, prefix string) {
			d.Throttle = throttle.New(throttle.Config{LoginPerUser: 1, LoginPerIP: 1, RegisterPerIP: 1, SendRate: 1, SendBurst: 1}, dead, prefix, d.Metrics, d.Log)
		})
	alice, bob := e.signup("alice"), e.signup("bobby")
	for i := range 3 {
		e.send(alice, bob.ID, fmt.Sprint("m", i), "hi")
		e.login("alice", "password-alice", nil).decode(t, 201, nil)
	}
	var unchecked float64
	mfs, err := e.metrics.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tether_throttle_unavailable_total" {
			for _, m := range mf.GetMetric() {
				unchecked += m.GetCounter().GetValue()
			}
		}
	}
	if unchecked < 8 {
		t.Fatalf("requests let through unchecked: %v, want every checked one counted", unchecked)
	}
}
