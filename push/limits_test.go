package push

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

func TestIPLimiter_CountsIPv6Per64AndSkipsExempt(t *testing.T) {
	l := newIPLimiter(2, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	key := func(s string) (netip.Addr, bool) {
		return l.key(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
	}
	a1, _ := key("[2001:db8:1:2::1]:1000")
	a2, _ := key("[2001:db8:1:2:ffff::9]:2000")
	a3, _ := key("[2001:db8:1:3::1]:1000")
	if a1 != a2 || a1 == a3 {
		t.Fatalf("IPv6 keys %v %v %v: want one key per /64", a1, a2, a3)
	}
	m1, _ := key("[::ffff:192.0.2.1]:1")
	v4, _ := key("192.0.2.1:2")
	if m1 != v4 {
		t.Fatalf("IPv4-mapped %v and IPv4 %v counted apart", m1, v4)
	}
	if _, ok := key("10.1.2.3:4"); ok {
		t.Fatal("an exempt address was counted")
	}
	if !l.acquire(v4) || !l.acquire(v4) || l.acquire(v4) {
		t.Fatal("the limit of 2 was not enforced")
	}
	l.release(v4)
	if !l.acquire(v4) {
		t.Fatal("a released slot was not reusable")
	}
	l.release(v4)
	l.release(v4)
	if l.held() != 0 || len(l.count) != 0 {
		t.Fatalf("held %d, entries %d after releasing all", l.held(), len(l.count))
	}
	if _, ok := newIPLimiter(0, nil).key(&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4)}); ok {
		t.Fatal("counting without a limit")
	}
}

func TestLimits_PerIPRefusedAtAcceptAndReleasedOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConnsPerIP = 3 })
	n := e.start()
	a, _ := e.connectOn(50, "a", "ios")
	b := e.dial() // still in its handshake: counts too
	c, _ := e.connectOn(51, "c", "ios")

	// The fourth is refused before it sends anything.
	over := e.dial()
	f := over.read()
	if f.Type != wire.TypeError || f.Reason.Code != wire.CodeTooManyConnections {
		t.Fatalf("got %s %v, want error too_many_connections", f.Type, f.Reason)
	}
	over.expectClosed()
	a.alive()
	c.alive()

	_ = b.nc.Close()
	testenv.Eventually(t, 5*time.Second, func() bool { return n.ipLimit.held() == 2 }, "slot released")
	d, _ := e.connectOn(52, "d", "ios")
	d.alive()
}

func TestLimits_ExemptAddressesAreNotCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.MaxConnsPerIP = 1
		c.ConnLimitExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	n := e.start()
	for i := range 3 {
		c, _ := e.connectOn(int64(53+i), "d", "ios")
		c.alive()
	}
	if n.ipLimit.held() != 0 {
		t.Fatalf("held = %d", n.ipLimit.held())
	}
}

func TestLimits_PerUserRefusedAtHandshakeAfterReplacements(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxConnsPerUser = 2; c.SessionPolicy = PolicyDevice })
	n := e.start()
	a, _ := e.connectOn(60, "a", "ios")
	b, _ := e.connectOn(60, "b", "ios")

	over := e.dial()
	over.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.tokenOn(60, "c", "ios")}))
	over.expectReason(wire.TypeError, wire.CodeTooManyConnections)
	over.expectClosed()

	// A login that replaces one of the two is not over the limit.
	a2, _ := e.connectOn(60, "a", "ios")
	a.expectKick(wire.CodeReplaced)
	b.alive()
	a2.alive()
	other, _ := e.connectOn(61, "a", "ios") // another user has its own count
	other.alive()

	_ = b.nc.Close()
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 2 }, "b gone")
	c, _ := e.connectOn(60, "c", "ios")
	c.alive()
}

// Connections that open and close in every way (handshake done, refused by
// either limit, abandoned mid-handshake, kicked) leave every counter at zero.
func TestLimits_CountersReturnToZeroAfterManyConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.MaxConnsPerIP = 40
		c.MaxConnsPerUser = 2
		c.SessionPolicy = PolicyPlatform
	})
	n := e.start()
	const workers, rounds = 60, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				nc, err := net.DialTimeout("tcp", n.TCPAddr().String(), 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				switch (w + r) % 3 {
				case 0: // a handshake; users and platforms collide, so some are kicked or refused
					plat := []string{"ios", "web"}[r%2]
					tok := e.tokenOn(int64(70+w%4), string(rune('a'+w%6)), plat)
					_, _ = nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok}))
					buf := make([]byte, 64)
					_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
					_, _ = nc.Read(buf)
				case 1: // abandoned before Hello
				case 2: // half a frame
					_, _ = nc.Write([]byte{byte(wire.TypeHello), 0, 0})
				}
				_ = nc.Close()
			}
		}()
	}
	wg.Wait()
	testenv.Eventually(t, 10*time.Second, func() bool {
		total := int64(0)
		for i := range platformLabels {
			total += n.hub.plat.n[i].Load()
		}
		return n.ipLimit.held() == 0 && n.handshakes.Load() == 0 && n.Sessions() == 0 && total == 0 && len(n.snapshotConns()) == 0
	}, "counters back to zero: ip %v, handshakes %v, sessions %v", lazyInt(n.ipLimit.held), lazyInt(func() int { return int(n.handshakes.Load()) }), lazyInt(n.Sessions))
	if len(n.ipLimit.count) != 0 {
		t.Fatalf("ip map holds %d entries", len(n.ipLimit.count))
	}
}

// lazyInt prints f's value when a failure message is formatted.
type lazyInt func() int

func (l lazyInt) String() string { return fmt.Sprint(l()) }
