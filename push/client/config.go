package client

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/tetherim/tether"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAckInterval      = 200 * time.Millisecond
	DefaultAckBatch         = 64
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultSyncPageSize     = tether.MaxPageSize
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHeartbeat        = 25 * time.Second // used when the server's Welcome names none
	DefaultMaxFrame         = 4 << 20
	DefaultPlatform         = "other"
	DefaultSendRetryBudget  = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	APIBase string // REST API base URL, e.g. "http://127.0.0.1:8080"
	// PushAddr is a push node's address: "host:port" for raw TCP, e.g.
	// "127.0.0.1:7070", or a WebSocket URL, e.g. "ws://127.0.0.1:7071/ws"
	// (wss:// for TLS).
	PushAddr string
	// PushAddrs are more push node addresses. The client starts at a random
	// one of PushAddr and PushAddrs and moves to the next whenever a
	// connection ends (failure, Reconnect from a draining node, close), so
	// clients spread over the nodes and leave one that drains or dies.
	PushAddrs []string
	// Discover makes the client ask the API where to connect (GET
	// /v1/push-nodes: the ready nodes, least loaded first) before every
	// connection; PushAddr and PushAddrs, if any, are the fallback. With
	// WebSocket it connects to the nodes' WebSocket URLs, else to their
	// TCP addresses.
	Discover  bool
	WebSocket bool

	// Credentials. The client logs in with Username and Password unless
	// Tokens is set; with Tokens and no Password it cannot log in again once
	// its refresh token stops working, and Run then stops with an error.
	Username string
	Password string
	Tokens   *tether.Tokens

	DeviceID   string // default: a random UUID for this Client
	Platform   string // default "other"
	AppVersion string

	// LastVersion is the resume point: the highest version the application
	// already has. Handler is called for versions after it only.
	LastVersion uint64

	// Handler receives the timeline entries, one call at a time, in version
	// order, exactly once per version. It runs on Run's goroutine: while it
	// runs, nothing else is delivered (heartbeats continue), so keep it quick.
	Handler func(tether.Entry)

	// OnPush receives transient pushes (broadcasts, pushes to this user) and
	// OnSignal ephemeral signals from peers (see SendSignal). Both run on
	// Run's goroutine like Handler and may be nil. Neither is stored or
	// synced: only what arrives while connected is seen. When OnPush
	// returns (or at once, if it is nil), the client answers the push with
	// a PushAck frame, the "acknowledged" count of the push API's status.
	OnPush   func(Push)
	OnSignal func(Signal)

	// Acks are cumulative and never per message. On a protocol version 1
	// connection the delivered version is acked every AckInterval (default
	// 200ms) if it moved, and at once when AckBatch (default 64) delivered
	// versions are unacked. On version 2 (granted by nodes whose
	// heartbeat_acks switch selects the session) both are unused: acks and
	// push acks ride on the heartbeat the client sends anyway.
	AckInterval time.Duration
	AckBatch    int

	MinBackoff time.Duration // reconnect backoff, exponential with full jitter (default 250ms)
	MaxBackoff time.Duration // (default 30s)

	// SendRetryBudget is how long Send keeps retrying a send that failed in
	// a way a retry may fix (503, 502, 504, 429, a network error), always
	// with the same client message id, so the message is stored once. It
	// waits the backoff, and at least the answer's Retry-After, between
	// attempts, and starts no attempt after the budget (default 30s, which
	// spans a database restart or failover; negative: no retries). The
	// context given to Send bounds it too.
	SendRetryBudget time.Duration

	SyncPageSize int // entries per REST sync page (default tether.MaxPageSize)

	DialTimeout      time.Duration // default 10s
	HandshakeTimeout time.Duration // Hello to Welcome, default 10s
	MaxFrame         int           // largest frame payload accepted from the server (default 4 MiB)

	HTTPClient *http.Client // default: a client with a 30s timeout
	Logger     *slog.Logger // default slog.Default()
}

func (c Config) withDefaults() Config {
	if c.AckInterval <= 0 {
		c.AckInterval = DefaultAckInterval
	}
	if c.AckBatch <= 0 {
		c.AckBatch = DefaultAckBatch
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.SendRetryBudget == 0 {
		c.SendRetryBudget = DefaultSendRetryBudget
	}
	if c.SyncPageSize <= 0 || c.SyncPageSize > tether.MaxPageSize {
		c.SyncPageSize = DefaultSyncPageSize
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.DeviceID == "" {
		c.DeviceID = uuid.NewString()
	}
	if c.Platform == "" {
		c.Platform = DefaultPlatform
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.APIBase == "":
		return errors.New("tether client: Config.APIBase is required")
	case c.PushAddr == "" && len(c.PushAddrs) == 0 && !c.Discover:
		return errors.New("tether client: Config.PushAddr, Config.PushAddrs or Config.Discover is required")
	case c.Tokens == nil && (c.Username == "" || c.Password == ""):
		return errors.New("tether client: Config needs Username and Password, or Tokens")
	case len(c.DeviceID) > tether.MaxDeviceIDLen:
		return errors.New("tether client: Config.DeviceID is too long")
	}
	return nil
}
