package config

// PushAPI configures the push API for third-party services of `tether api`
// and `tether dev` (api/pushapi).
type PushAPI struct {
	AdminKey  string // bootstrap admin-scope API key; empty: none
	RateLimit int    // pushes per second of keys created without one; 0: unlimited
}

// MinAdminKeyLen is the shortest TETHER_ADMIN_KEY accepted: it is compared
// by hash like generated keys, so it must be as hard to guess.
const MinAdminKeyLen = 32

func (p *PushAPI) declare(s *Set) {
	s.SecretString(&p.AdminKey, "admin-key", "TETHER_ADMIN_KEY", "", "Bootstrap API key with the admin scope of the push API (send it as X-API-Key to POST /v1/admin/api-keys to create the first keys); at least 32 characters, e.g. from openssl rand -hex 32. Empty: none. Prefer the environment variable over the flag.")
	s.Int(&p.RateLimit, "push-rate-limit", "TETHER_PUSH_RATE_LIMIT", 1000, "Pushes per second of each push API key created without its own rate_limit (bursts of one second's worth, at least one 500-push batch); 0: unlimited.")
}

func (p *PushAPI) check(c *checker) {
	if p.AdminKey != "" && len(p.AdminKey) < MinAdminKeyLen {
		c.failf(&p.AdminKey, "must be at least %d characters", MinAdminKeyLen)
	}
	c.intRange(&p.RateLimit, 0, 1_000_000)
}
