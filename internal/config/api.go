package config

import (
	"crypto/ed25519"
	"log/slog"
	"strings"
	"time"

	"github.com/tetherim/tether/shared/token"
)

// APIConfig configures `tether api`: the stateless REST API and its outbox relay.
type APIConfig struct {
	Log   Log
	Redis Redis

	HTTPAddr        string        // REST listen address
	AdminAddr       string        // /metrics, /healthz, /readyz, /debug/pprof
	MySQLDSN        string        // the database, migrated by `tether migrate`
	TokenPrivateKey string        // base64 Ed25519 seed (tether keygen)
	AccessTTL       time.Duration // access token lifetime
	RefreshTTL      time.Duration // refresh token lifetime
	RelayBatch      int           // outbox rows per relay batch
	RelayPoll       time.Duration // relay poll interval when not kicked
	RelayStreamLen  int           // approximate max length of each push node's job stream
	ShutdownTimeout time.Duration // grace period on SIGTERM
	RecallWindow    time.Duration // how long after sending a message its sender may recall it
	PushAPI         PushAPI       // push API for third-party services
	Throttle        Throttle      // limits on logins, registrations and sends
	Webhook         Webhook       // offline-notification webhook
	Bulkheads       Bulkheads     // each business's pool (internal/bulkhead)
}

func (c *APIConfig) declare() *Set {
	s := NewSet("api")
	s.String(&c.HTTPAddr, "http", "TETHER_HTTP_ADDR", ":8080", "REST API listen address.")
	s.String(&c.AdminAddr, "admin", "TETHER_ADMIN_ADDR", ":9090", "Admin listen address: /metrics, /healthz, /readyz, /live (the per-second table) and /debug/pprof/. Keep it off the public network.")
	s.DSNString(&c.MySQLDSN, "mysql", "TETHER_MYSQL_DSN", "", "MySQL/MariaDB DSN, e.g. tether:secret@tcp(db:3306)/tether. The store always sets parseTime=true and loc=UTC. The schema must be in this binary's window (tether migrate; see Upgrading Tether without downtime).")
	s.SecretString(&c.TokenPrivateKey, "token-private-key", "TETHER_TOKEN_PRIVATE_KEY", "", "Ed25519 private key (base64 seed from tether keygen) that signs access tokens. Prefer the environment variable over the flag.")
	s.Duration(&c.AccessTTL, "access-ttl", "TETHER_ACCESS_TTL", 15*time.Minute, "Lifetime of access tokens (push nodes accept a token until it expires).")
	s.Duration(&c.RefreshTTL, "refresh-ttl", "TETHER_REFRESH_TTL", 30*24*time.Hour, "Lifetime of refresh tokens (login sessions).")
	s.Int(&c.RelayBatch, "relay-batch", "TETHER_RELAY_BATCH", 256, "Outbox rows the relay moves to Redis per batch.")
	s.Duration(&c.RelayPoll, "relay-poll", "TETHER_RELAY_POLL", 500*time.Millisecond, "How often the relay looks for outbox rows it was not told about (rows of a crashed or other API instance).")
	s.Int(&c.RelayStreamLen, "relay-stream-maxlen", "TETHER_RELAY_STREAM_MAXLEN", 100000, "Approximate cap on each push node's job stream; older jobs are trimmed (clients recover them by sync).")
	s.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TETHER_SHUTDOWN_TIMEOUT", 15*time.Second, "Grace period for in-flight requests on SIGINT/SIGTERM.")
	declareRecallWindow(s, &c.RecallWindow)
	c.Webhook.declare(s)
	c.PushAPI.declare(s)
	c.Throttle.declare(s)
	c.Bulkheads.declare(s)
	c.Redis.declare(s)
	c.Log.declare(s, "info")
	return s
}

// APISettings lists the settings of `tether api`, for help and documentation.
func APISettings() *Set { return new(APIConfig).declare() }

// DefaultAPI returns an APIConfig with every default applied.
func DefaultAPI() APIConfig {
	var c APIConfig
	c.declare().ApplyDefaults()
	return c
}

// LoadAPI fills an APIConfig from args and getenv, and validates it.
func LoadAPI(args []string, getenv func(string) string) (APIConfig, error) {
	var c APIConfig
	if err := c.declare().Parse(args, getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every invalid setting, each naming its flag and variable.
func (c APIConfig) Validate() error {
	ck := &checker{set: c.declare()}
	ck.addr(&c.HTTPAddr)
	ck.addr(&c.AdminAddr)
	if ck.required(&c.MySQLDSN) && !strings.Contains(c.MySQLDSN, "/") {
		ck.failf(&c.MySQLDSN, "is not a MySQL DSN (want user:password@tcp(host:3306)/dbname)")
	}
	if ck.required(&c.TokenPrivateKey) {
		if _, err := c.PrivateKey(); err != nil {
			ck.failf(&c.TokenPrivateKey, "%v (generate one with `tether keygen`)", err)
		}
	}
	ck.positive(&c.AccessTTL)
	ck.positive(&c.RefreshTTL)
	if c.RefreshTTL > 0 && c.RefreshTTL < c.AccessTTL {
		ck.failf(&c.RefreshTTL, "must not be shorter than --access-ttl")
	}
	ck.intRange(&c.RelayBatch, 1, 10000)
	ck.positive(&c.RelayPoll)
	ck.intRange(&c.RelayStreamLen, 1000, 100_000_000)
	ck.positive(&c.ShutdownTimeout)
	ck.positive(&c.RecallWindow)
	c.Webhook.check(ck)
	c.PushAPI.check(ck)
	c.Throttle.check(ck)
	c.Bulkheads.check(ck)
	c.Redis.check(ck)
	c.Log.check(ck)
	return ck.err()
}

// PrivateKey parses TokenPrivateKey.
func (c APIConfig) PrivateKey() (ed25519.PrivateKey, error) {
	return token.ParsePrivate(strings.TrimSpace(c.TokenPrivateKey))
}

// LogValue prints the configuration with secrets masked.
func (c APIConfig) LogValue() slog.Value { return c.declare().LogValue() }
