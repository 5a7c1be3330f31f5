package config

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/tetherim/tether"
)

// DevPassword is the password `tether chat` uses when none is given. It is
// for `tether dev` only: anyone who knows a username can log in with it.
const DevPassword = "tether-dev-password"

// ChatConfig configures `tether chat`, the terminal client.
type ChatConfig struct {
	Log Log

	User     string
	Password string
	To       string // default recipient
	APIBase  string
	PushAddr string
	DeviceID string
	Linger   time.Duration // how long to keep receiving after stdin ends
}

func (c *ChatConfig) declare() *Set {
	s := NewSet("chat")
	s.String(&c.User, "user", "TETHER_CHAT_USER", "", "Username to chat as; registered on first use.")
	s.SecretString(&c.Password, "password", "TETHER_CHAT_PASSWORD", DevPassword, "Password of the user. The default is a public dev-only value: set a real one against any shared server.")
	s.String(&c.To, "to", "TETHER_CHAT_TO", "", "Default recipient for lines without a \"name:\" prefix (also settable with /to name).")
	s.String(&c.APIBase, "api", "TETHER_CHAT_API", "http://127.0.0.1:8080", "Base URL of the REST API.")
	s.String(&c.PushAddr, "push", "TETHER_CHAT_PUSH", "127.0.0.1:7070", "Push node address: host:port for TCP, or ws://host:port/ws for WebSocket.")
	s.String(&c.DeviceID, "device", "TETHER_CHAT_DEVICE", "", "Device id of this client. Empty: chat-<user>.")
	s.Duration(&c.Linger, "linger", "TETHER_CHAT_LINGER", 0, "After stdin ends (Ctrl-D or the end of a pipe), wait until your own sent messages have come back, then keep printing arriving messages this long before exiting.")
	c.Log.declare(s, "warn")
	return s
}

// ChatSettings lists the settings of `tether chat`, for help and documentation.
func ChatSettings() *Set { return new(ChatConfig).declare() }

// LoadChat fills a ChatConfig from args and getenv, and validates it.
func LoadChat(args []string, getenv func(string) string) (ChatConfig, error) {
	var c ChatConfig
	s := c.declare()
	if err := s.Parse(args, getenv); err != nil {
		return c, err
	}
	if c.DeviceID == "" && c.User != "" {
		c.DeviceID = "chat-" + c.User
	}
	return c, c.Validate()
}

// Validate reports every invalid setting, each naming its flag and variable.
func (c ChatConfig) Validate() error {
	ck := &checker{set: c.declare()}
	// The server's own rules, so that a bad flag is named before any request.
	if ck.required(&c.User) {
		if _, err := tether.NormalizeUsername(c.User); err != nil {
			ck.failf(&c.User, "%s", tether.ErrorMessage(err))
		}
	}
	if err := tether.ValidatePassword(c.Password); err != nil {
		ck.failf(&c.Password, "%s", tether.ErrorMessage(err))
	}
	if ck.required(&c.APIBase) {
		if u, err := url.Parse(c.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ck.failf(&c.APIBase, "%q is not an http(s) URL", c.APIBase)
		}
	}
	if u, err := url.Parse(c.PushAddr); err == nil && (u.Scheme == "ws" || u.Scheme == "wss") {
		if u.Host == "" {
			ck.failf(&c.PushAddr, "%q has no host", c.PushAddr)
		}
	} else {
		ck.addr(&c.PushAddr)
	}
	if len(c.DeviceID) > tether.MaxDeviceIDLen {
		ck.failf(&c.DeviceID, "must be at most %d characters", tether.MaxDeviceIDLen)
	}
	if c.Linger < 0 {
		ck.failf(&c.Linger, "must not be negative")
	}
	c.Log.check(ck)
	return ck.err()
}

// LogValue prints the configuration with the password masked.
func (c ChatConfig) LogValue() slog.Value { return c.declare().LogValue() }
