package throttle_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/throttle"
	"github.com/tetherim/tether/internal/testenv"
)

func newThrottle(t *testing.T, cfg throttle.Config) *throttle.Throttle {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return throttle.New(cfg, rdb, prefix, nil, nil)
}

// limited reports whether err is ERATELIMITED, and its wait.
func limited(t *testing.T, err error) (bool, time.Duration) {
	t.Helper()
	if err == nil {
		return false, 0
	}
	var e *tether.Error
	if !errors.As(err, &e) || e.Code != tether.ERATELIMITED || e.RetryAfter <= 0 {
		t.Fatalf("err %v, want rate_limited with a wait", err)
	}
	return true, e.RetryAfter
}

var addr = netip.MustParseAddr("198.51.100.7")

func TestLogin_LimitResetsAfterTheWait(t *testing.T) {
	t.Parallel()
	th := newThrottle(t, throttle.Config{LoginPerUser: 120}) // one every 0.5 s after 120
	ctx := context.Background()
	for i := range 120 {
		if over, _ := limited(t, th.Login(ctx, "alice", addr)); over {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	over, wait := limited(t, th.Login(ctx, "Alice", addr)) // one count per account, whatever the case
	if !over || wait > 500*time.Millisecond {
		t.Fatalf("121st attempt: refused %v, wait %v (want at most 0.5 s)", over, wait)
	}
	time.Sleep(wait)
	if over, _ := limited(t, th.Login(ctx, "alice", addr)); over {
		t.Fatal("refused after the wait")
	}
}

func TestLogin_RefusedByTheAddressLimitSpendsNothingOfTheUsername(t *testing.T) {
	t.Parallel()
	th := newThrottle(t, throttle.Config{LoginPerUser: 2, LoginPerIP: 1})
	ctx := context.Background()
	other := netip.MustParseAddr("198.51.100.8")
	if over, _ := limited(t, th.Login(ctx, "alice", addr)); over {
		t.Fatal("first attempt refused")
	}
	for range 5 {
		if over, _ := limited(t, th.Login(ctx, "alice", addr)); !over {
			t.Fatal("the address is over its limit")
		}
	}
	// alice spent one of two: one more from elsewhere goes through.
	if over, _ := limited(t, th.Login(ctx, "alice", other)); over {
		t.Fatal("the address limit's refusals were charged to the username")
	}
}

func TestAddressLimits_ExemptPrefixesAndIPv6Slash64(t *testing.T) {
	t.Parallel()
	th := newThrottle(t, throttle.Config{RegisterPerIP: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	ctx := context.Background()
	for range 3 {
		if over, _ := limited(t, th.Register(ctx, netip.MustParseAddr("10.1.2.3"))); over {
			t.Fatal("an exempt address was limited")
		}
	}
	if over, _ := limited(t, th.Register(ctx, netip.MustParseAddr("2001:db8:1:2::1"))); over {
		t.Fatal("first registration refused")
	}
	// Another host of the same /64 shares its count; another /64 does not.
	if over, _ := limited(t, th.Register(ctx, netip.MustParseAddr("2001:db8:1:2:ffff::9"))); !over {
		t.Fatal("the same /64 was not counted together")
	}
	if over, _ := limited(t, th.Register(ctx, netip.MustParseAddr("2001:db8:1:3::1"))); over {
		t.Fatal("another /64 was refused")
	}
	// An IPv4-mapped address counts as the IPv4 one.
	if over, _ := limited(t, th.Register(ctx, netip.MustParseAddr("::ffff:10.9.9.9"))); over {
		t.Fatal("an IPv4-mapped exempt address was limited")
	}
}

func TestSend_ZeroRateIsOff(t *testing.T) {
	t.Parallel()
	th := newThrottle(t, throttle.Config{})
	for range 100 {
		if over, _ := limited(t, th.Send(context.Background(), 1)); over {
			t.Fatal("limited without a limit")
		}
	}
}

// tether dev runs on an in-process Redis (miniredis): the limits must hold
// there too, not fail open.
func TestSend_LimitsOnTheDevModesInProcessRedis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	th := throttle.New(throttle.Config{SendRate: 1, SendBurst: 3}, rdb, "tether:", nil, nil)
	for i := range 3 {
		if over, _ := limited(t, th.Send(context.Background(), 7)); over {
			t.Fatalf("send %d refused", i+1)
		}
	}
	if over, _ := limited(t, th.Send(context.Background(), 7)); !over {
		t.Fatal("the 4th send went through")
	}
}
