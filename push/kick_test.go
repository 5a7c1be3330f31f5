package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// twin returns an env for a second node on the same Redis prefix and token
// keys as e, so both nodes share one registry, as nodes of a cluster do.
func (e *env) twin(mod func(*Config)) *env {
	e.t.Helper()
	t := &env{t: e.t, rdb: e.rdb, prefix: e.prefix, reg: e.reg, signer: e.signer, priv: e.priv, verify: e.verify, nodeDB: e.nodeDB, cfg: e.cfg, tr: e.tr}
	t.cfg.NodeID = testenv.Name("node")
	if mod != nil {
		mod(&t.cfg)
	}
	return t
}

// pushKick XADDs a kick job to the node's stream.
func (e *env) pushKick(j job.Job) {
	e.t.Helper()
	j.Kind = job.KindKick
	if j.ID == "" {
		j.ID = testenv.Name("kick")
	}
	b, err := job.Encode(j)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: e.streams.Keys().Node(e.cfg.NodeID), Values: map[string]any{stream.Field: b}}).Err(); err != nil {
		e.t.Fatal(err)
	}
}

func TestKick_SamePlatformLoginOnAnotherNodeKicksOldSession(t *testing.T) {
	t.Parallel()
	a := newEnv(t, nil)
	a.start()
	b := a.twin(nil)
	nb := b.start()
	old, _ := a.connectOn(40, "phone-1", "ios")
	web, _ := a.connectOn(40, "browser", "web")
	cur, w := b.connectOn(40, "phone-2", "ios")
	r := old.expectKick(wire.CodeReplaced)
	if !strings.Contains(r.Text, "ios") {
		t.Fatalf("reason %q does not name the platform", r.Text)
	}
	cur.alive()
	web.alive()
	testenv.Eventually(t, 5*time.Second, func() bool {
		d := a.routeDevices(40)
		_, oldRoute := d["phone-1"]
		return !oldRoute && d["phone-2"].ConnID == w.SessionID && d["browser"].NodeID == a.cfg.NodeID
	}, "routes: %v", lazyRoutes(func() any { return a.routeDevices(40) }))
	if nb.Sessions() != 1 {
		t.Fatalf("node b sessions = %d", nb.Sessions())
	}
}

func TestKick_SameDeviceOnAnotherNodeKicksOldConnection(t *testing.T) {
	t.Parallel()
	a := newEnv(t, func(c *Config) { c.SessionPolicy = PolicyDevice })
	a.start()
	b := a.twin(nil)
	b.start()
	old, _ := a.connectOn(41, "phone", "ios")
	cur, _ := b.connectOn(41, "phone", "ios")
	old.expectKick(wire.CodeReplaced)
	cur.alive()
}

func TestKick_OtherPlatformOnAnotherNodeStays(t *testing.T) {
	t.Parallel()
	a := newEnv(t, nil)
	na := a.start()
	b := a.twin(nil)
	b.start()
	ios, _ := a.connectOn(42, "phone", "ios")
	web, _ := b.connectOn(42, "browser", "web")
	// A kick job would be on a's stream by now: give its consumer time.
	time.Sleep(300 * time.Millisecond)
	ios.alive()
	web.alive()
	if na.Sessions() != 1 {
		t.Fatalf("node a sessions = %d", na.Sessions())
	}
}

func TestKickJob_SparesKeepConnOtherPlatformsAndNewerSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionPolicy = PolicyDevice })
	n := e.start()
	keep, kw := e.connectOn(43, "keep", "ios")
	gone, _ := e.connectOn(43, "gone", "ios")
	web, _ := e.connectOn(43, "web", "web")
	bystander, _ := e.connectOn(44, "x", "ios")
	issued := time.Now().UnixMilli()
	time.Sleep(5 * time.Millisecond)
	newer, _ := e.connectOn(43, "newer", "ios")

	e.pushKick(job.Job{
		Targets:    []job.Target{{UserID: 43}},
		Platforms:  []string{"ios"},
		KeepConn:   kw.SessionID,
		Code:       uint16(wire.CodeRevoked),
		Reason:     "logged out",
		EnqueuedMS: issued,
	})
	if r := gone.expectKick(wire.CodeRevoked); r.Text != "logged out" {
		t.Fatalf("reason %q", r.Text)
	}
	for _, c := range []*tclient{keep, web, bystander, newer} {
		c.alive()
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 4 }, "four sessions left")

	// A target naming a device kicks that device only; no code means revoked.
	e.pushKick(job.Job{Targets: []job.Target{{UserID: 43, DeviceID: "web"}}})
	web.expectKick(wire.CodeRevoked)
	keep.alive()
	newer.alive()
	if e.counter("tether_calls_total", "job", "kick") != 2 {
		t.Fatal("kick jobs did not pass the metrics dispatch point")
	}
}

// lazyRoutes prints the routes when a failure message is formatted.
type lazyRoutes func() any

func (l lazyRoutes) String() string { return fmt.Sprint(l()) }

// A login accepted while its node cannot reach Redis kicks the sessions it
// replaces on other nodes once its route is written after all.
func TestKick_LoginDuringRedisOutageKicksOtherNodeAfterRecovery(t *testing.T) {
	t.Parallel()
	a := newEnv(t, nil)
	a.start()
	b := a.twin(nil)
	b.nodeDB = redis.NewClient(&redis.Options{
		Addr:       testenv.RedisAddr(),
		MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if b.down.Load() {
				return nil, errors.New("test: redis is down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = b.nodeDB.Close() })
	b.down.Store(true)
	b.start()

	old, _ := a.connectOn(45, "phone-1", "ios")
	cur, w := b.connectOn(45, "phone-2", "ios")
	if w.Flags&wire.FlagVersionUnknown == 0 {
		t.Fatalf("welcome %+v: the route cannot have been written", w)
	}
	time.Sleep(200 * time.Millisecond)
	old.alive() // nothing can tell node a yet

	b.down.Store(false)
	old.expectKick(wire.CodeReplaced)
	cur.alive()
}
