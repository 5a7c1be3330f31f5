package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Throttle configures the REST API's limits on logins, registrations and
// sends (api/throttle), for `tether api` and `tether dev`.
type Throttle struct {
	LoginPerUser   int    // login attempts per minute for one username; 0: off
	LoginPerIP     int    // login attempts per minute from one client address; 0: off
	RegisterPerIP  int    // registrations per hour from one client address; 0: off
	SendRate       int    // messages per second one user may send; 0: off
	SendBurst      int    // messages one user may send at once
	Exempt         string // comma-separated CIDR prefixes the per-address limits do not count
	TrustedProxies string // comma-separated CIDR prefixes of proxies whose X-Forwarded-For names the client
}

func (t *Throttle) declare(s *Set) {
	s.Int(&t.LoginPerUser, "login-limit-user", "TETHER_LOGIN_LIMIT_USER", 10, "Login attempts per minute for one username, from any address (a burst of as many, then one every 60/N s); over it: 429 rate_limited with Retry-After, without checking the password. A successful login clears the username's count. 0: off.")
	s.Int(&t.LoginPerIP, "login-limit-ip", "TETHER_LOGIN_LIMIT_IP", 30, "Login attempts per minute from one client address (IPv6: one /64), for any usernames; over it: 429. 0: off.")
	s.Int(&t.RegisterPerIP, "register-limit-ip", "TETHER_REGISTER_LIMIT_IP", 20, "Registrations (POST /v1/accounts) per hour from one client address (IPv6: one /64); over it: 429. 0: off.")
	s.Int(&t.SendRate, "send-rate", "TETHER_SEND_RATE", 20, "Messages per second one user may send (POST /v1/messages, 1:1 and group, retries included), after a burst of --send-burst; over it: 429 rate_limited with Retry-After. 0: off.")
	s.Int(&t.SendBurst, "send-burst", "TETHER_SEND_BURST", 50, "Messages one user may send at once before --send-rate applies (a client flushing its offline outbox).")
	s.String(&t.Exempt, "rate-limit-exempt", "TETHER_RATE_LIMIT_EXEMPT", "127.0.0.0/8,::1/128", "Comma-separated CIDR prefixes the per-address limits (--login-limit-ip, --register-limit-ip) do not count: local tools, benchmarks. Empty: count every address.")
	s.String(&t.TrustedProxies, "trusted-proxies", "TETHER_TRUSTED_PROXIES", "", "Comma-separated CIDR prefixes of reverse proxies and load balancers whose X-Forwarded-For header names the client address (for the per-address limits and logs). Empty: the connection's address is the client's; behind a proxy every client then shares the proxy's address.")
}

func (t *Throttle) check(c *checker) {
	c.intRange(&t.LoginPerUser, 0, 1_000_000)
	c.intRange(&t.LoginPerIP, 0, 1_000_000)
	c.intRange(&t.RegisterPerIP, 0, 1_000_000)
	c.intRange(&t.SendRate, 0, 1_000_000)
	c.intRange(&t.SendBurst, 1, 1_000_000)
	if _, err := parsePrefixes(t.Exempt); err != nil {
		c.failf(&t.Exempt, "%v", err)
	}
	if _, err := parsePrefixes(t.TrustedProxies); err != nil {
		c.failf(&t.TrustedProxies, "%v", err)
	}
}

// ExemptPrefixes parses Exempt.
func (t Throttle) ExemptPrefixes() ([]netip.Prefix, error) { return parsePrefixes(t.Exempt) }

// TrustedProxyPrefixes parses TrustedProxies.
func (t Throttle) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes(t.TrustedProxies)
}

// parsePrefixes parses a comma-separated list of CIDR prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
