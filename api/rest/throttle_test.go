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
	// 10 a minute: 10 at once, then one more every 6 s, so on a slow machine
	// an attempt may come back while these run; the count is bounded by the
	// elapsed time, not exact.
	start, checked := time.Now(), 0
	var refused resp
	for refused.Status != 429 {
		if checked == 40 {
			t.Fatalf("40 wrong passwords checked, none refused")
		}
		if refused = e.login("alice", "wrong password!", nil); refused.Status == 401 {
			checked++
		} else if refused.Status != 429 {
			t.Fatalf("wrong password %d: %d %s", checked+1, refused.Status, refused.Body)
		}
	}
	if budget := 10 + int(time.Since(start)/(6*time.Second)); checked < 10 || checked > budget {
		t.Fatalf("%d wrong passwords checked, want 10 and at most %d in %v", checked, budget, time.Since(start))
	}
	wait := refused.wantRateLimited(t)
	if wait > time.Minute/10+time.Second {
		t.Fatalf("Retry-After %v: one attempt comes back every 6 s", wait)
	}
	// Inside the wait even the right password is not checked, whatever the
	// case of the name.
	at := time.Now()
	if r := e.login("ALICE", "password-alice", nil); r.Status != 429 && time.Since(at) < wait {
		t.Fatalf("the right password inside the wait: %d %s", r.Status, r.Body)
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
	e := newThrottledEnv(t, throttle.Config{SendRate: 1, SendBurst: 5})
	alice, bob := e.signup("alice"), e.signup("bobby")
	var g tether.Group
	e.do(req{Method: "POST", Path: "/v1/groups", Token: alice.Tokens.AccessToken, Body: map[string]any{"name": "Team", "member_ids": []int64{bob.ID}}}).decode(t, 201, &g)
	sendGroup := func(id string) resp {
		return e.do(req{Method: "POST", Path: "/v1/messages", Token: alice.Tokens.AccessToken, Body: map[string]any{
			"group_id": g.ID, "client_msg_id": id, "type": "text", "content": map[string]string{"text": id},
		}})
	}
	sendDirect := func(id string) resp {
		return e.do(req{Method: "POST", Path: "/v1/messages", Token: alice.Tokens.AccessToken, Body: map[string]any{
			"recipient_id": bob.ID, "client_msg_id": id, "type": "text", "content": map[string]string{"text": id},
		}})
	}
	// 1:1 and group sends spend one budget: 5 at once, then one a second,
	// so the number let through is bounded by the elapsed time (a slow
	// machine refills the bucket while these run).
	start := time.Now()
	for i := range 3 {
		e.send(alice, bob.ID, fmt.Sprint("d", i), "hi")
	}
	accepted := 3
	var refused resp
	for refused.Status != 429 {
		if accepted == 60 {
			t.Fatalf("60 sends accepted, none refused")
		}
		if refused = sendGroup(fmt.Sprint("g", accepted)); refused.Status == 201 {
			accepted++
		} else if refused.Status != 429 {
			t.Fatalf("group send: %d %s", refused.Status, refused.Body)
		}
	}
	if budget := 5 + int(time.Since(start)/time.Second); accepted < 5 || accepted > budget {
		t.Fatalf("%d sends accepted, want 5 and at most %d in %v", accepted, budget, time.Since(start))
	}
	wait := refused.wantRateLimited(t)
	at := time.Now()
	if r := sendDirect("d-over"); r.Status != 429 && time.Since(at) < wait {
		t.Fatalf("a 1:1 send inside the wait: %d %s", r.Status, r.Body)
	}
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
