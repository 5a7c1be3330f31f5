package config

import (
	"crypto/ed25519"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

// PushConfig configures `tether push`: one push node.
type PushConfig struct {
	Log   Log
	Redis Redis

	NodeID            string        // unique and stable per node; default: the host name
	TCPAddr           string        // client listen address
	AdvertiseTCP      string        // address clients are told to use; default: derived by the node
	AdvertiseWS       string        // WebSocket URL clients are told to use; default: derived by the node
	AdminAddr         string        // /metrics, /healthz, /readyz, /debug/pprof
	TokenPublicKey    string        // base64 Ed25519 public key (tether keygen)
	HeartbeatInterval time.Duration // the ping interval announced to clients
	IdleTimeout       time.Duration // close connections silent this long
	HandshakeTimeout  time.Duration // close connections without a Hello this long
	MaxPayload        int           // frame payload limit, bytes
	NodeTTL           time.Duration // heartbeat key TTL in Redis
	AckFlushInterval  time.Duration // how often acks are written to Redis in batches
	StreamBatch       int           // jobs read per XREADGROUP
	WSAddr            string        // WebSocket listen address; empty: none
	WSOrigins         string        // comma-separated allowed Origin values; empty: any
	ShutdownTimeout   time.Duration // grace period on SIGTERM, after the drain window
	DrainWindow       time.Duration // SIGTERM: spread Reconnect frames over at most this
	DrainRate         int           // SIGTERM: at most this many reconnects per second

	SessionPolicy   string // multi-device policy: platform, device or single
	MaxConnsPerIP   int    // open connections per client address (IPv6: /64); 0: no limit
	MaxConnsPerUser int    // sessions per user on one node; 0: no limit
	ConnLimitExempt string // comma-separated CIDR prefixes the per-IP limit does not count

	SignalRate      int           // signals per second per session (token bucket rate)
	SignalBurst     int           // signals per session at once (token bucket size)
	BroadcastMaxAge time.Duration // broadcasts older than this are never delivered

	UpgradeSocket  string        // hot restart: Unix socket a new process takes the node over on; empty: derived (UpgradeSocketPath)
	UpgradeTimeout time.Duration // hot restart: bound on one handoff

	SwitchesFile string // last known switches, loaded at start when Redis is down; empty: derived (SwitchesPath)
}

func (c *PushConfig) declare() *Set {
	s := NewSet("push")
	s.String(&c.NodeID, "node-id", "TETHER_NODE_ID", "", "Unique, stable id of this node (letters, digits, '.', '_', '-'). Empty: the host name, which in a Kubernetes StatefulSet is the pod name.")
	s.String(&c.TCPAddr, "tcp", "TETHER_TCP_ADDR", ":7070", "Client TCP listen address.")
	s.String(&c.AdvertiseTCP, "advertise-tcp", "TETHER_ADVERTISE_TCP", "", "host:port clients use to reach this node, recorded in the registry. Empty: derived from the listen address.")
	s.String(&c.AdvertiseWS, "advertise-ws", "TETHER_ADVERTISE_WS", "", "WebSocket URL clients use to reach this node (ws:// or wss://, path /ws), e.g. wss://push-1.example.com/ws behind a TLS proxy; recorded in the registry for client discovery. Empty: ws://<--ws listen address>/ws.")
	s.String(&c.AdminAddr, "admin", "TETHER_ADMIN_ADDR", ":9091", "Admin listen address: /metrics, /healthz, /readyz, /live (the per-second table) and /debug/pprof/. Keep it off the public network.")
	s.String(&c.TokenPublicKey, "token-public-key", "TETHER_TOKEN_PUBLIC_KEY", "", "Ed25519 public key (base64, from tether keygen) that verifies access tokens.")
	s.Duration(&c.HeartbeatInterval, "heartbeat", "TETHER_HEARTBEAT_INTERVAL", 30*time.Second, "Ping interval the node asks clients to keep.")
	s.Duration(&c.IdleTimeout, "idle-timeout", "TETHER_IDLE_TIMEOUT", 75*time.Second, "A connection that sends nothing for this long is closed. Must exceed --heartbeat.")
	s.Duration(&c.HandshakeTimeout, "handshake-timeout", "TETHER_HANDSHAKE_TIMEOUT", 10*time.Second, "A connection that sends no Hello within this is closed.")
	s.Int(&c.MaxPayload, "max-payload", "TETHER_MAX_PAYLOAD", wire.DefaultMaxPayload, "Largest frame payload accepted or sent, in bytes.")
	s.Duration(&c.NodeTTL, "node-ttl", "TETHER_NODE_TTL", 15*time.Second, "TTL of the node's heartbeat key in Redis; it is refreshed at a third of this. A dead node stops getting jobs after it.")
	s.Duration(&c.AckFlushInterval, "ack-flush", "TETHER_ACK_FLUSH_INTERVAL", 250*time.Millisecond, "How often client acks are written to Redis, batched.")
	s.Int(&c.StreamBatch, "stream-batch", "TETHER_STREAM_BATCH", 256, "Jobs read from the node's Redis stream per call.")
	s.String(&c.WSAddr, "ws", "TETHER_WS_ADDR", "", "Client WebSocket listen address (same frames, one per binary message, at path /ws; see push/PROTOCOL.md), e.g. :7071. Empty: no WebSocket listener.")
	s.String(&c.WSOrigins, "ws-origins", "TETHER_WS_ORIGINS", "", "Comma-separated Origin values a WebSocket upgrade may carry, e.g. https://app.example.com; others get 403. Requests without Origin (non-browser clients) pass. Empty: any origin.")
	s.Duration(&c.ShutdownTimeout, "shutdown-timeout", "TETHER_SHUTDOWN_TIMEOUT", 15*time.Second, "Grace period on SIGINT/SIGTERM after the drain window, for the last connections, in-flight jobs and acks.")
	s.Duration(&c.DrainWindow, "drain-window", "TETHER_DRAIN_WINDOW", 30*time.Second, "On SIGINT/SIGTERM the node refuses new connections, leaves the registry and sends its clients Reconnect frames spread over at most this window, then closes the rest.")
	s.Int(&c.DrainRate, "drain-rate", "TETHER_DRAIN_RATE", 1000, "Reconnects per second a draining node causes at most (its window permitting), so the other nodes see no storm; fewer clients drain faster.")
	s.String(&c.SessionPolicy, "session-policy", "TETHER_SESSION_POLICY", "platform", "Multi-device policy: platform (one live session per user and platform), device (one per device id, any number of devices) or single (one per user). A new login kicks the sessions it replaces, on any node, with a Kick frame.")
	s.Int(&c.MaxConnsPerIP, "max-conns-per-ip", "TETHER_MAX_CONNS_PER_IP", 1024, "Open connections one client address may hold on this node (IPv6: one /64), refused at accept with too_many_connections. High enough for carrier-grade NAT; 0: no limit.")
	s.Int(&c.MaxConnsPerUser, "max-conns-per-user", "TETHER_MAX_CONNS_PER_USER", 16, "Sessions one user may hold on this node after the policy's replacements, refused at the handshake with too_many_connections; 0: no limit.")
	s.String(&c.ConnLimitExempt, "conn-limit-exempt", "TETHER_CONN_LIMIT_EXEMPT", "127.0.0.0/8,::1/128", "Comma-separated CIDR prefixes --max-conns-per-ip does not count: a local proxy, a load balancer that hides client addresses, benchmarks. Empty: count every address.")
	s.Int(&c.SignalRate, "signal-rate", "TETHER_SIGNAL_RATE", 10, "Ephemeral signals (typing, ...) one session may send per second; more are dropped.")
	s.Int(&c.SignalBurst, "signal-burst", "TETHER_SIGNAL_BURST", 20, "Signals one session may send at once above --signal-rate. A session that keeps sending this many in a row with none allowed is closed with rate_limited.")
	s.Duration(&c.BroadcastMaxAge, "broadcast-max-age", "TETHER_BROADCAST_MAX_AGE", 5*time.Minute, "A broadcast older than this is never delivered, e.g. when a restarted node catches up on the broadcast stream.")
	s.String(&c.UpgradeSocket, "upgrade-socket", "TETHER_UPGRADE_SOCKET", "", "Unix socket on which SIGUSR2 (or tether push --upgrade) hands this node's listeners and connections to a new process of the binary (hot restart). Created 0600; only the same user may take over. Empty: tether-push-<node-id>.sock in the temporary directory.")
	s.String(&c.SwitchesFile, "switches-file", "TETHER_SWITCHES_FILE", "", "Local file keeping the last known live switches, loaded at start when Redis is unavailable. Put it on a volume that survives restarts. Empty: tether-switches-<node-id>.json in the temporary directory.")
	s.Duration(&c.UpgradeTimeout, "upgrade-timeout", "TETHER_UPGRADE_TIMEOUT", time.Minute, "Hot restart: the new process must have taken the node over within this, else it is killed and the running one keeps serving.")
	c.Redis.declare(s)
	c.Log.declare(s, "info")
	return s
}

// UpgradeSocketPath is the hot-restart socket: UpgradeSocket, or a path
// derived from the node id, so that `tether push --upgrade` with the same
// settings finds the running node.
func (c PushConfig) UpgradeSocketPath() string {
	if c.UpgradeSocket != "" {
		return c.UpgradeSocket
	}
	return filepath.Join(os.TempDir(), "tether-push-"+c.NodeID+".sock")
}

// SwitchesPath is the file the node keeps its last known switches in.
func (c PushConfig) SwitchesPath() string {
	if c.SwitchesFile != "" {
		return c.SwitchesFile
	}
	return filepath.Join(os.TempDir(), "tether-switches-"+c.NodeID+".json")
}

// PushSettings lists the settings of `tether push`, for help and documentation.
func PushSettings() *Set { return new(PushConfig).declare() }

// DefaultPush returns a PushConfig with every default applied.
func DefaultPush() PushConfig {
	var c PushConfig
	c.declare().ApplyDefaults()
	return c
}

// LoadPush fills a PushConfig from args and getenv, resolves the node id,
// and validates it.
func LoadPush(args []string, getenv func(string) string) (PushConfig, error) {
	var c PushConfig
	if err := c.declare().Parse(args, getenv); err != nil {
		return c, err
	}
	if c.NodeID == "" {
		// A host name that fails here leaves NodeID empty, which Validate reports.
		c.NodeID, _ = os.Hostname()
	}
	return c, c.Validate()
}

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate reports every invalid setting, each naming its flag and variable.
func (c PushConfig) Validate() error {
	ck := &checker{set: c.declare()}
	if ck.required(&c.NodeID) && !nodeIDRe.MatchString(c.NodeID) {
		ck.failf(&c.NodeID, "%q must be 1-64 letters, digits, '.', '_' or '-'", c.NodeID)
	}
	ck.addr(&c.TCPAddr)
	if c.AdvertiseTCP != "" {
		ck.addr(&c.AdvertiseTCP)
	}
	if c.AdvertiseWS != "" {
		if u, err := url.Parse(c.AdvertiseWS); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			ck.failf(&c.AdvertiseWS, "%q must be a ws:// or wss:// URL, e.g. wss://push-1.example.com/ws", c.AdvertiseWS)
		} else if c.WSAddr == "" {
			ck.failf(&c.AdvertiseWS, "is set but --ws is empty: the node has no WebSocket listener")
		}
	}
	ck.addr(&c.AdminAddr)
	if ck.required(&c.TokenPublicKey) {
		if _, err := c.PublicKey(); err != nil {
			ck.failf(&c.TokenPublicKey, "%v (generate one with `tether keygen`)", err)
		}
	}
	ck.positive(&c.HeartbeatInterval)
	ck.positive(&c.IdleTimeout)
	if c.HeartbeatInterval > 0 && c.IdleTimeout <= c.HeartbeatInterval {
		ck.failf(&c.IdleTimeout, "must exceed --heartbeat (%s), or idle clients that ping on time get closed", c.HeartbeatInterval)
	}
	ck.positive(&c.HandshakeTimeout)
	ck.intRange(&c.MaxPayload, 1024, 16<<20)
	ck.positive(&c.NodeTTL)
	if c.NodeTTL > 0 && c.NodeTTL < 3*time.Second {
		ck.failf(&c.NodeTTL, "must be at least 3s, got %s", c.NodeTTL)
	}
	ck.positive(&c.AckFlushInterval)
	ck.intRange(&c.StreamBatch, 1, 10000)
	if c.WSAddr != "" {
		ck.addr(&c.WSAddr)
	}
	for _, o := range c.Origins() {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			ck.failf(&c.WSOrigins, "%q is not an origin like https://app.example.com", o)
		}
	}
	ck.positive(&c.ShutdownTimeout)
	switch c.SessionPolicy {
	case "platform", "device", "single":
	default:
		ck.failf(&c.SessionPolicy, "%q must be platform, device or single", c.SessionPolicy)
	}
	ck.intRange(&c.MaxConnsPerIP, 0, 1<<20)
	ck.intRange(&c.MaxConnsPerUser, 0, 1<<20)
	if _, err := c.ConnLimitExemptPrefixes(); err != nil {
		ck.failf(&c.ConnLimitExempt, "%v", err)
	}
	ck.positive(&c.DrainWindow)
	ck.intRange(&c.DrainRate, 1, 1000000)
	ck.intRange(&c.SignalRate, 1, 10000)
	ck.intRange(&c.SignalBurst, 1, 1<<15)
	ck.positive(&c.BroadcastMaxAge)
	ck.positive(&c.UpgradeTimeout)
	c.Redis.check(ck)
	c.Log.check(ck)
	return ck.err()
}

// Origins splits WSOrigins into its values.
func (c PushConfig) Origins() []string {
	var out []string
	for _, o := range strings.Split(c.WSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// ConnLimitExemptPrefixes parses ConnLimitExempt.
func (c PushConfig) ConnLimitExemptPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes(c.ConnLimitExempt)
}

// PublicKey parses TokenPublicKey.
func (c PushConfig) PublicKey() (ed25519.PublicKey, error) {
	return token.ParsePublic(strings.TrimSpace(c.TokenPublicKey))
}

// LogValue prints the configuration with secrets masked.
func (c PushConfig) LogValue() slog.Value { return c.declare().LogValue() }
