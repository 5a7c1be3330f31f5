// Package throttle limits what one user, one username or one client address
// may ask of the REST API per unit of time: login attempts (against password
// guessing), registrations (each costs an argon2 hash, and floods of accounts
// are spam) and message sends (a runaway or hijacked client). The limits are
// GCRA in Redis (github.com/go-redis/redis_rate, as the push API's per-key
// limit), so every API replica shares them:
//
//	{p}throttle:login:user:{sha256 of the lowercased username, 16 bytes hex}
//	{p}throttle:login:ip:{address, or an IPv6 /64}
//	{p}throttle:register:ip:{address, or an IPv6 /64}
//	{p}throttle:send:{user id}
//
// Refreshing a session is not limited: a refresh token is 256 random bits,
// so guessing one is hopeless, and a refresh costs one indexed lookup.
//
// Redis is a weak dependency here. If it does not answer within
// redisBudget, the request is let through (fail open), counted in
// tether_throttle_unavailable_total and logged at most once a minute: a
// Redis outage must not stop every login and send, and password guessing
// stays slow anyway (argon2, and the guesses still need the API).
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
)

// Config sets the limits; a zero rate turns its limit off.
type Config struct {
	LoginPerUser  int            // login attempts per minute for one username
	LoginPerIP    int            // login attempts per minute from one client address
	RegisterPerIP int            // registrations per hour from one client address
	SendRate      int            // messages per second one user may send
	SendBurst     int            // messages one user may send at once (at least 1)
	Exempt        []netip.Prefix // addresses the per-address limits do not count
}

// redisBudget bounds one limiter call: past it the request goes through.
const redisBudget = 200 * time.Millisecond

// Throttle applies the limits. It is safe for concurrent use.
type Throttle struct {
	cfg    Config
	lim    *redis_rate.Limiter
	prefix string
	log    *slog.Logger

	unavailable *prometheus.CounterVec // limit

	mu     sync.Mutex
	warned time.Time
}

// New returns a Throttle keeping its counts in rdb under prefix (the
// cluster's --redis-prefix).
func New(cfg Config, rdb redis.UniversalClient, prefix string, m *metrics.Metrics, log *slog.Logger) *Throttle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Throttle{
		cfg: cfg, lim: redis_rate.NewLimiter(rdb), prefix: prefix + "throttle:", log: log,
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_throttle_unavailable_total",
			Help: "Requests let through unchecked because the limiter's Redis did not answer (fail open), by limit.",
		}, []string{"limit"}),
	}
	if m != nil {
		m.Register(t.unavailable)
	}
	return t
}

// Login spends one login attempt of ip, then one of username, before the
// password is checked (so that parallel guesses are counted too). Over a
// limit it answers ERATELIMITED with the wait; the username's count is then
// not spent.
func (t *Throttle) Login(ctx context.Context, username string, ip netip.Addr) error {
	if t.cfg.LoginPerIP > 0 && t.counts(ip) {
		if err := t.spend(ctx, "login_ip", "login:ip:"+addrKey(ip), redis_rate.PerMinute(t.cfg.LoginPerIP),
			"Too many login attempts from your address; retry later."); err != nil {
			return err
		}
	}
	if t.cfg.LoginPerUser > 0 {
		return t.spend(ctx, "login_user", "login:user:"+userKey(username), redis_rate.PerMinute(t.cfg.LoginPerUser),
			"Too many login attempts for this username; retry later.")
	}
	return nil
}

// LoginSucceeded clears the username's count: the limit is on guesses, and
// a user who got the password right may log in on another device at once.
func (t *Throttle) LoginSucceeded(ctx context.Context, username string) {
	if t.cfg.LoginPerUser <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisBudget)
	defer cancel()
	if err := t.lim.Reset(ctx, t.prefix+"login:user:"+userKey(username)); err != nil {
		t.down("login_user", err)
	}
}

// Register spends one registration of ip.
func (t *Throttle) Register(ctx context.Context, ip netip.Addr) error {
	if t.cfg.RegisterPerIP <= 0 || !t.counts(ip) {
		return nil
	}
	return t.spend(ctx, "register_ip", "register:ip:"+addrKey(ip), redis_rate.PerHour(t.cfg.RegisterPerIP),
		"Too many accounts registered from your address; retry later.")
}

// Send spends one message send of the user.
func (t *Throttle) Send(ctx context.Context, userID int64) error {
	if t.cfg.SendRate <= 0 {
		return nil
	}
	limit := redis_rate.Limit{Rate: t.cfg.SendRate, Period: time.Second, Burst: max(t.cfg.SendBurst, 1)}
	return t.spend(ctx, "send", "send:"+strconv.FormatInt(userID, 10), limit,
		"You are sending messages too fast; retry later.")
}

// spend takes one from key's limit; over it, ERATELIMITED with the wait.
func (t *Throttle) spend(ctx context.Context, name, key string, limit redis_rate.Limit, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, redisBudget)
	defer cancel()
	res, err := t.lim.Allow(ctx, t.prefix+key, limit)
	if err != nil {
		t.down(name, err)
		return nil
	}
	if res.Allowed > 0 {
		return nil
	}
	e := tether.Errorf(tether.ERATELIMITED, "%s", msg)
	e.RetryAfter = max(res.RetryAfter, time.Millisecond)
	return e
}

// down counts a request let through because Redis did not answer.
func (t *Throttle) down(name string, err error) {
	t.unavailable.WithLabelValues(name).Inc()
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.warned) > time.Minute {
		t.warned = time.Now()
		t.log.Warn("throttle: limiter unavailable; requests let through unchecked (logged once a minute)", "limit", name, "err", err)
	}
}

// counts reports whether ip is subject to the per-address limits.
func (t *Throttle) counts(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range t.cfg.Exempt {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// addrKey names an address's count: an IPv4 address, or the /64 of an IPv6
// one (a single host usually holds a whole /64).
func addrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// userKey names a username's count: one per account (normalized as the
// domain does), hashed so that any string a client sends makes a short key.
func userKey(username string) string {
	if name, err := tether.NormalizeUsername(username); err == nil {
		username = name
	}
	sum := sha256.Sum256([]byte(username))
	return hex.EncodeToString(sum[:16])
}
