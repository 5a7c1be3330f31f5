package push

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// tokenOn signs a token for uid's device on platform.
func (e *env) tokenOn(uid int64, device, platform string) string {
	e.t.Helper()
	s, _, err := e.signer.Sign(token.Claims{UserID: uid, DeviceID: device, Platform: platform, SessionID: "s-" + device})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// connectOn dials the env's node and completes a handshake as uid's device on platform.
func (e *env) connectOn(uid int64, device, platform string) (*tclient, wire.Welcome) {
	e.t.Helper()
	c := e.dial()
	c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.tokenOn(uid, device, platform), Platform: platform, DeviceID: device, AppVersion: "t/1"}))
	f := c.read()
	if f.Type != wire.TypeWelcome {
		e.t.Fatalf("handshake of %d/%s/%s: got %s %v, want welcome", uid, device, platform, f.Type, f.Reason)
	}
	return c, f.Welcome
}

// expectKick reads until a Kick arrives (anything but pongs and messages
// fails), checks its code and that the server then closes.
func (c *tclient) expectKick(code wire.Code) wire.Reason {
	c.t.Helper()
	for {
		f := c.read()
		switch f.Type {
		case wire.TypePong, wire.TypeMessage:
			continue
		case wire.TypeKick:
			if f.Reason.Code != code {
				c.t.Fatalf("kick code %s %q, want %s", f.Reason.Code, f.Reason.Text, code)
			}
			c.expectClosed()
			return f.Reason
		default:
			c.t.Fatalf("got %s %v, want a kick", f.Type, f.Reason)
		}
	}
}

// alive checks the connection still serves: a Ping is answered.
func (c *tclient) alive() {
	c.t.Helper()
	c.send(wire.AppendPing(nil, []byte{7}))
	for {
		f := c.read()
		switch f.Type {
		case wire.TypePong:
			return
		case wire.TypeMessage, wire.TypeSync:
		default:
			c.t.Fatalf("connection not alive: got %s %v", f.Type, f.Reason)
		}
	}
}

// routeDevices returns the devices the registry routes uid to.
func (e *env) routeDevices(uid int64) map[string]route.Session {
	e.t.Helper()
	r, err := e.reg.Lookup(context.Background(), []int64{uid})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]route.Session{}
	for _, s := range r[uid] {
		out[s.DeviceID] = s
	}
	return out
}

func TestParsePolicy_KnownNamesAndDefault(t *testing.T) {
	for in, want := range map[string]Policy{"": PolicyPlatform, "platform": PolicyPlatform, "device": PolicyDevice, "single": PolicySingle} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePolicy("Platform"); err == nil {
		t.Error("ParsePolicy accepted an unknown name")
	}
	if _, err := New(Config{NodeID: "n", TCPAddr: ":0", SessionPolicy: "many"}, Deps{Redis: newEnv(t, nil).nodeDB, Registry: &route.Registry{}, Verifier: &token.Verifier{}}); err == nil {
		t.Error("New accepted an unknown policy")
	}
}

func TestPolicy_ReplacesBySameDevicePlatformOrUser(t *testing.T) {
	cur := route.Session{DeviceID: "d1", Platform: "ios"}
	cases := []struct {
		old                      route.Session
		platform, device, single bool
	}{
		{route.Session{DeviceID: "d1", Platform: "ios"}, true, true, true},
		{route.Session{DeviceID: "d1", Platform: "web"}, true, true, true}, // same device id always
		{route.Session{DeviceID: "d2", Platform: "ios"}, true, false, true},
		{route.Session{DeviceID: "d2", Platform: "web"}, false, false, true},
	}
	for _, tc := range cases {
		if got := PolicyPlatform.replaces(cur, tc.old); got != tc.platform {
			t.Errorf("platform policy, old %+v: %v", tc.old, got)
		}
		if got := PolicyDevice.replaces(cur, tc.old); got != tc.device {
			t.Errorf("device policy, old %+v: %v", tc.old, got)
		}
		if got := PolicySingle.replaces(cur, tc.old); got != tc.single {
			t.Errorf("single policy, old %+v: %v", tc.old, got)
		}
	}
}

func TestSession_SamePlatformNewLoginKicksOldWithReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil) // the default policy: one session per user and platform
	n := e.start()
	old, _ := e.connectOn(20, "phone-1", "ios")
	web, _ := e.connectOn(20, "browser", "web")
	cur, w := e.connectOn(20, "phone-2", "ios")
	r := old.expectKick(wire.CodeReplaced)
	if !strings.Contains(r.Text, "ios") {
		t.Fatalf("kick reason %q does not name the platform", r.Text)
	}
	cur.alive()
	web.alive()
	testenv.Eventually(t, 5*time.Second, func() bool {
		d := e.routeDevices(20)
		_, oldRoute := d["phone-1"]
		return n.Sessions() == 2 && !oldRoute && d["phone-2"].ConnID == w.SessionID
	}, "the old session and its route are gone, the new ones stay")

	// Jobs reach the new session only.
	e.push(msgJob("after", jobTarget(20, 1)))
	if m := cur.messages(1); m[0].Version != 1 {
		t.Fatalf("new session got %s", versions(m))
	}
}

func TestSession_DifferentPlatformsBothStay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	ios, _ := e.connectOn(21, "phone", "ios")
	desk, _ := e.connectOn(21, "laptop", "desktop")
	web, _ := e.connectOn(21, "browser", "web")
	e.push(msgJob("hi", jobTarget(21, 1)))
	for _, c := range []*tclient{ios, desk, web} {
		if m := c.messages(1); m[0].Version != 1 {
			t.Fatalf("got %s", versions(m))
		}
	}
	if n.Sessions() != 3 {
		t.Fatalf("sessions = %d", n.Sessions())
	}
}

func TestSession_SameDeviceIsKickedUnderEveryPolicy(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{PolicyPlatform, PolicyDevice, PolicySingle} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.SessionPolicy = p })
			e.start()
			old, _ := e.connectOn(22, "phone", "ios")
			cur, _ := e.connectOn(22, "phone", "ios")
			if r := old.expectKick(wire.CodeReplaced); !strings.Contains(r.Text, "device") {
				t.Fatalf("reason %q", r.Text)
			}
			cur.alive()
		})
	}
}

func TestSession_DevicePolicyKeepsEveryDeviceOfAPlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionPolicy = PolicyDevice })
	n := e.start()
	a, _ := e.connectOn(23, "phone", "ios")
	b, _ := e.connectOn(23, "tablet", "ios")
	a.alive()
	b.alive()
	if n.Sessions() != 2 {
		t.Fatalf("sessions = %d", n.Sessions())
	}
}

func TestSession_SinglePolicyKeepsOneSessionPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionPolicy = PolicySingle })
	n := e.start()
	ios, _ := e.connectOn(24, "phone", "ios")
	other, _ := e.connectOn(25, "phone", "ios") // another user is not affected
	web, _ := e.connectOn(24, "browser", "web")
	if r := ios.expectKick(wire.CodeReplaced); !strings.Contains(r.Text, "web") {
		t.Fatalf("reason %q does not name the new platform", r.Text)
	}
	web.alive()
	other.alive()
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 2 }, "two sessions")
}

func TestSession_HelloDisagreeingWithTokenUsesTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	c := e.dial()
	c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.tokenOn(26, "real-device", "ios"), Platform: "web", DeviceID: "claimed", AppVersion: "t/1"}))
	if f := c.read(); f.Type != wire.TypeWelcome {
		t.Fatalf("got %s %v", f.Type, f.Reason)
	}
	d := e.routeDevices(26)
	if s, ok := d["real-device"]; !ok || s.Platform != "ios" || len(d) != 1 {
		t.Fatalf("routes %+v, want the token's device and platform", d)
	}
}

func TestSessions_GaugeCountsByPlatformUpAndDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.SessionPolicy = PolicyDevice })
	n := e.start()
	gauge := func() map[string]float64 {
		mfs, err := e.m.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "tether_push_sessions":
					for _, l := range m.GetLabel() {
						if l.GetName() == "platform" {
							out[l.GetValue()] = m.GetGauge().GetValue()
						}
					}
				case "tether_push_handshakes":
					out["handshakes"] = m.GetGauge().GetValue()
				}
			}
		}
		return out
	}
	want := func(ios, web, other, handshakes float64) {
		t.Helper()
		testenv.Eventually(t, 5*time.Second, func() bool {
			g := gauge()
			return g["ios"] == ios && g["web"] == web && g["other"] == other && g["android"] == 0 && g["handshakes"] == handshakes
		}, "gauges %v, want ios=%v web=%v other=%v handshakes=%v", lazyGauge(gauge), ios, web, other, handshakes)
	}
	want(0, 0, 0, 0)
	a, _ := e.connectOn(30, "a", "ios")
	b, _ := e.connectOn(30, "b", "ios")
	c, _ := e.connectOn(31, "c", "web")
	d, _ := e.connectOn(32, "d", "weird-platform") // not a known platform: counted as other
	pending := e.dial()                            // connected, no Hello yet
	want(2, 1, 1, 1)
	// A replacement on another platform moves the count.
	a2, _ := e.connectOn(30, "a", "web")
	a.expectKick(wire.CodeReplaced)
	want(1, 2, 1, 1)
	for _, cl := range []*tclient{b, c, d, pending, a2} {
		_ = cl.nc.Close()
	}
	want(0, 0, 0, 0)
	if n.Sessions() != 0 {
		t.Fatalf("sessions = %d", n.Sessions())
	}
}

// lazyGauge prints the gauges when a failure message is formatted.
type lazyGauge func() map[string]float64

func (l lazyGauge) String() string { return fmt.Sprint(l()) }

// A connection accepted first whose handshake finishes after that of a
// newer connection of the same session (a client gave up on a slow
// handshake and reconnected) must not end the newer one: it is refused.
func TestSession_LateHandshakeOfAnOlderConnectionDoesNotReplaceTheNewer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	stale := e.dial() // accepted first; its Hello comes late
	// The accept must be done before the second dial, or the order is the kernel's.
	testenv.Eventually(t, 5*time.Second, func() bool { return e.node.handshakes.Load() == 1 }, "first connection accepted")
	cur, _ := e.connectOn(23, "phone", "ios")
	stale.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.tokenOn(23, "phone", "ios"), AppVersion: "t/1"}))
	if r := stale.expectKick(wire.CodeReplaced); !strings.Contains(r.Text, "newer") {
		t.Fatalf("reason %q", r.Text)
	}
	cur.alive()
	if d := e.routeDevices(23); d["phone"].ConnID == "" {
		t.Fatalf("route of the live connection missing: %v", d)
	}
}
