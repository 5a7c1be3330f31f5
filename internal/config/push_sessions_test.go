package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestLoadPush_SessionPolicyAndConnectionLimits(t *testing.T) {
	_, pub := keys(t)
	c, err := LoadPush([]string{"--node-id", "p1", "--max-conns-per-user", "0"}, env(map[string]string{
		"TETHER_TOKEN_PUBLIC_KEY":  pub,
		"TETHER_SESSION_POLICY":    "device",
		"TETHER_MAX_CONNS_PER_IP":  "5",
		"TETHER_CONN_LIMIT_EXEMPT": " 10.1.2.3/8 , fd00::/8,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionPolicy != "device" || c.MaxConnsPerIP != 5 || c.MaxConnsPerUser != 0 {
		t.Fatalf("config %+v", c)
	}
	p, err := c.ConnLimitExemptPrefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || !slices.Equal(p, want) {
		t.Fatalf("exempt = %v, %v", p, err)
	}

	d := DefaultPush()
	if d.SessionPolicy != "platform" || d.MaxConnsPerIP != 1024 || d.MaxConnsPerUser != 16 {
		t.Fatalf("defaults %+v", d)
	}
	if p, err := d.ConnLimitExemptPrefixes(); err != nil || len(p) != 2 || !p[0].Contains(netip.MustParseAddr("127.0.0.1")) || !p[1].Contains(netip.IPv6Loopback()) {
		t.Fatalf("default exempt = %v, %v", p, err)
	}

	d.NodeID, d.TokenPublicKey = "p1", pub
	d.SessionPolicy, d.MaxConnsPerIP, d.ConnLimitExempt = "per-device", -1, "10.0.0.0"
	err = d.Validate()
	for _, flag := range []string{"--session-policy", "--max-conns-per-ip", "--conn-limit-exempt"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("error %v does not name %s", err, flag)
		}
	}
}
