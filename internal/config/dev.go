package config

import (
	"log/slog"
	"time"
)

// declareRecallWindow declares TETHER_RECALL_WINDOW, shared by tether api and tether dev.
func declareRecallWindow(s *Set, d *time.Duration) {
	s.Duration(d, "recall-window", "TETHER_RECALL_WINDOW", 2*time.Minute, "How long after sending a message its sender may recall it (POST /v1/messages/{id}/recall); later recalls are refused with 403.")
}

// DevConfig configures `tether dev`: the whole system in one process, with
// SQLite and an in-process Redis, for development and demos.
type DevConfig struct {
	Log Log

	HTTPAddr  string // REST listen address
	PushAddr  string // push TCP listen address
	WSAddr    string // push WebSocket listen address
	AdminAddr string // /metrics, /healthz, /readyz, /debug/pprof
	DataDir   string // SQLite database and token key

	RecallWindow time.Duration // how long after sending a message its sender may recall it

	PushAPI PushAPI // push API for third-party services

	Throttle Throttle // limits on logins, registrations and sends

	Webhook Webhook // offline-notification webhook

	Bulkheads Bulkheads // each business's pool (internal/bulkhead)
}

func (c *DevConfig) declare() *Set {
	s := NewSet("dev")
	s.String(&c.HTTPAddr, "http", "TETHER_HTTP_ADDR", "127.0.0.1:8080", "REST API listen address.")
	s.String(&c.PushAddr, "push", "TETHER_PUSH_ADDR", "127.0.0.1:7070", "Push TCP listen address.")
	s.String(&c.WSAddr, "ws", "TETHER_WS_ADDR", "127.0.0.1:7071", "Push WebSocket listen address (browsers connect to ws://ADDR/ws).")
	s.String(&c.AdminAddr, "admin", "TETHER_ADMIN_ADDR", "127.0.0.1:9090", "Admin listen address: /metrics, /healthz, /readyz, /live (the per-second table) and /debug/pprof/.")
	s.String(&c.DataDir, "data", "TETHER_DATA_DIR", "./.tether", "Directory for the SQLite database (tether.db) and the token key (token.key), created on first run.")
	declareRecallWindow(s, &c.RecallWindow)
	c.Webhook.declare(s)
	c.PushAPI.declare(s)
	c.Throttle.declare(s)
	c.Bulkheads.declare(s)
	c.Log.declare(s, "info")
	return s
}

// DevSettings lists the settings of `tether dev`, for help and documentation.
func DevSettings() *Set { return new(DevConfig).declare() }

// DefaultDev returns a DevConfig with every default applied.
func DefaultDev() DevConfig {
	var c DevConfig
	c.declare().ApplyDefaults()
	return c
}

// LoadDev fills a DevConfig from args and getenv, and validates it.
func LoadDev(args []string, getenv func(string) string) (DevConfig, error) {
	var c DevConfig
	if err := c.declare().Parse(args, getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every invalid setting, each naming its flag and variable.
func (c DevConfig) Validate() error {
	ck := &checker{set: c.declare()}
	ck.addr(&c.HTTPAddr)
	ck.addr(&c.PushAddr)
	ck.addr(&c.WSAddr)
	ck.addr(&c.AdminAddr)
	ck.required(&c.DataDir)
	ck.positive(&c.RecallWindow)
	c.Webhook.check(ck)
	c.PushAPI.check(ck)
	c.Throttle.check(ck)
	c.Bulkheads.check(ck)
	c.Log.check(ck)
	return ck.err()
}

// LogValue prints the configuration.
func (c DevConfig) LogValue() slog.Value { return c.declare().LogValue() }
