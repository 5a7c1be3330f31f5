package config

import (
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log is how a process logs.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // text or json
}

func (l *Log) declare(s *Set, level string) {
	s.String(&l.Level, "log-level", "TETHER_LOG_LEVEL", level, "Log level: debug, info, warn or error.")
	s.String(&l.Format, "log-format", "TETHER_LOG_FORMAT", "text", "Log format: text (logfmt) or json (one object per line).")
}

func (l *Log) check(c *checker) {
	if _, ok := parseLevel(l.Level); !ok {
		c.failf(&l.Level, "unknown level %q (want debug, info, warn or error)", l.Level)
	}
	if f := strings.ToLower(l.Format); f != "text" && f != "json" {
		c.failf(&l.Format, "unknown format %q (want text or json)", l.Format)
	}
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info", "":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// New returns a logger writing to w at the configured level and format.
func (l Log) New(w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(l.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	if strings.ToLower(l.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Redis is how a process reaches Redis.
type Redis struct {
	Addr     string
	Password string
	DB       int
	Prefix   string
}

func (r *Redis) declare(s *Set) {
	s.String(&r.Addr, "redis-addr", "TETHER_REDIS_ADDR", "127.0.0.1:6379", "Redis address host:port (routing registry and push job streams).")
	s.SecretString(&r.Password, "redis-password", "TETHER_REDIS_PASSWORD", "", "Redis password (AUTH); empty for none. Prefer the environment variable over the flag.")
	s.Int(&r.DB, "redis-db", "TETHER_REDIS_DB", 0, "Redis logical database number.")
	s.String(&r.Prefix, "redis-prefix", "TETHER_REDIS_PREFIX", "tether:", "Prefix of every Redis key; the API and all push nodes of one cluster must use the same one.")
}

func (r *Redis) check(c *checker) {
	c.addr(&r.Addr)
	c.intRange(&r.DB, 0, 15)
}

// Options returns go-redis options for this configuration.
func (r Redis) Options() *redis.Options {
	return &redis.Options{
		Addr:         r.Addr,
		Password:     r.Password,
		DB:           r.DB,
		DialTimeout:  3 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
	}
}
