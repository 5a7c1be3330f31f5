package stack

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/switches"
)

// switchCluster starts two API processes and a push node on one MariaDB
// database and the Redis at redisAddr under prefix.
func switchCluster(t *testing.T, redisAddr, prefix string) (a1, a2 *API, p *Push) {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.MySQL(t)
	db, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	priv, pub := keyPair(t)
	start := func() *API {
		ac := apiConfig(t, dsn, prefix, priv)
		ac.Redis.Addr = redisAddr
		ac.PushAPI.AdminKey = stackAdminKey
		a, err := StartAPI(ctx, ac, quiet())
		if err != nil {
			t.Fatal(err)
		}
		stopOnCleanup(t, a)
		return a
	}
	a1, a2 = start(), start()
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("push-")
	pc.TCPAddr, pc.AdminAddr, pc.TokenPublicKey = "127.0.0.1:0", "127.0.0.1:0", pub
	pc.Redis.Addr, pc.Redis.Prefix = redisAddr, prefix
	pc.SwitchesFile = t.TempDir() + "/switches.json"
	p, err = StartPush(ctx, pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, p)
	return a1, a2, p
}

// seenAfter polls cond every millisecond and returns how long it took to hold.
func seenAfter(t *testing.T, start time.Time, timeout time.Duration, cond func() bool, what string) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s did not see the change within %v", what, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestSwitches_SetThroughOneAPIReachesAnotherAPIAndAPushNodeWithinASecond(t *testing.T) {
	t.Parallel()
	_, prefix := testenv.Redis(t)
	a1, a2, p := switchCluster(t, testenv.RedisAddr(), prefix)
	other, node := a2.core.switches.svc.Registry, p.switches

	for i, step := range []float64{5, 20} {
		start := time.Now()
		code := keyCall(t, "http://"+a1.HTTPAddr, stackAdminKey, "PUT", "/v1/admin/switches/"+switches.Presence,
			map[string]any{"value": "on", "rules": map[string]any{"percent": step}, "reason": fmt.Sprintf("gray release step %v%%", step)}, nil)
		if code != http.StatusOK {
			t.Fatalf("PUT answered %d", code)
		}
		want := int64(i + 1)
		dAPI := seenAfter(t, start, time.Second, func() bool { return other.Version() == want }, "the other API process")
		dNode := seenAfter(t, start, time.Second, func() bool { return node.Version() == want }, "the push node")
		t.Logf("switch propagation delay (from the PUT on API 1): API 2 %v, push node %v", dAPI, dNode)
	}
	if c, _ := other.Get(switches.Presence); c.Rules == nil || *c.Rules.Percent != 20 || c.UpdatedBy != "key:admin" {
		t.Fatalf("API 2 has %+v", c)
	}
	var one map[string]any
	if code := keyCall(t, "http://"+a2.HTTPAddr, stackAdminKey, "GET", "/v1/admin/switches/"+switches.Presence, nil, &one); code != 200 || one["set"] != true {
		t.Fatalf("GET on API 2: %d %v", code, one)
	}
	var hist struct {
		Changes []switches.Record `json:"changes"`
	}
	if code := keyCall(t, "http://"+a2.HTTPAddr, stackAdminKey, "GET", "/v1/admin/switches/"+switches.Presence+"/history", nil, &hist); code != 200 || len(hist.Changes) != 2 || hist.Changes[0].Reason != "gray release step 20%" {
		t.Fatalf("history on API 2: %d %+v", code, hist)
	}
	if code := keyCall(t, "http://"+a1.HTTPAddr, stackAdminKey, "PUT", "/v1/admin/switches/"+switches.Presence, map[string]any{"value": "off"}, nil); code != http.StatusBadRequest {
		t.Fatalf("a change without a reason answered %d, want 400", code)
	}
	if code := keyCall(t, "http://"+a1.HTTPAddr, stackAdminKey, "PUT", "/v1/admin/switches/nope", map[string]any{"value": "off", "reason": "x"}, nil); code != http.StatusNotFound {
		t.Fatalf("an unknown switch answered %d, want 404", code)
	}
}

func TestSwitches_WithRedisDownTheDatabaseReloadDeliversToAPIs(t *testing.T) {
	t.Parallel()
	addr, killRedis := ownRedis(t)
	a1, a2, p := switchCluster(t, addr, testenv.Name("t")+":")
	// The push node has a value to keep through the outage.
	if code := keyCall(t, "http://"+a1.HTTPAddr, stackAdminKey, "PUT", "/v1/admin/switches/"+switches.Signals,
		map[string]any{"value": "off", "reason": "before the outage"}, nil); code != http.StatusOK {
		t.Fatalf("PUT answered %d", code)
	}
	seenAfter(t, time.Now(), 5*time.Second, func() bool { return !p.switches.Bool(switches.Signals) }, "the push node")

	killRedis()
	start := time.Now()
	if code := keyCall(t, "http://"+a1.HTTPAddr, stackAdminKey, "PUT", "/v1/admin/switches/"+switches.Webhook,
		map[string]any{"value": "off", "reason": "redis is down"}, nil); code != http.StatusOK {
		t.Fatalf("PUT with Redis down answered %d", code)
	}
	other := a2.core.switches.svc.Registry
	// One reload interval (3 s by default), with slack for a loaded machine.
	d := seenAfter(t, start, 15*time.Second, func() bool { return !other.Bool(switches.Webhook) }, "the other API process, from the database")
	t.Logf("switch propagation delay with Redis down (database reload, interval %v): %v", other.Duration(switches.ReloadInterval), d)
	if p.switches.Bool(switches.Signals) {
		t.Fatal("the push node lost its last known value in the Redis outage")
	}
}
