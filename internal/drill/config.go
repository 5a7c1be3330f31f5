package drill

// The drill's settings: a modest load that a shared 2-core machine runs
// beside the cluster, and phases long enough for a fault to bite (a
// vanished node is noticed after two heartbeats) and short enough that
// --quick stays under two minutes.

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config configures a drill.
type Config struct {
	Exe       string        // the tether binary the cluster runs
	Target    *Target       // drill this running cluster instead of starting one (target.go)
	Dir       string        // working directory (default: a new temporary one)
	Users     int           // online users, each with one checking client (default 100)
	GroupSize int           // users per group (default 10; every user is in one)
	Rate      float64       // messages per second, all users together (default 40)
	Faults    []string      // fault names; empty: all, or the quick ones with Quick
	Quick     bool          // the quick drill (CI): fewer users, the quick faults, shorter phases
	Before    time.Duration // load before each fault (default 2s)
	Hold      time.Duration // how long a fault lasts (default 6s, quick 5s)
	After     time.Duration // load after the heal (default 3s)
	Settle    time.Duration // bound on a phase's last deliveries (default 30s)
	Heartbeat time.Duration // push nodes' heartbeat (default 2s): a vanished node is noticed after two
	Request   time.Duration // timeout of one REST request (default 5s)
	LogLevel  string        // of the cluster's processes (default warn); their logs are in Dir/logs
	Progress  io.Writer     // a line per step; nil: none
}

func (c *Config) defaults() error {
	if c.Exe == "" && c.Target == nil {
		return errors.New("drill: the tether binary is required")
	}
	if c.Users <= 0 {
		c.Users = 100
		if c.Quick {
			c.Users = 50
		}
	}
	if c.Users < 2 {
		return errors.New("drill: at least 2 users")
	}
	if c.GroupSize <= 0 {
		c.GroupSize = 10
	}
	if c.Rate <= 0 {
		c.Rate = 40
		if c.Quick {
			c.Rate = 25
		}
	}
	if c.Before <= 0 {
		c.Before = 2 * time.Second
	}
	if c.Hold <= 0 {
		c.Hold = 6 * time.Second
		if c.Quick {
			c.Hold = 5 * time.Second
		}
	}
	if c.After <= 0 {
		c.After = 3 * time.Second
		if c.Quick {
			c.After = 2 * time.Second
		}
	}
	if c.Settle <= 0 {
		c.Settle = 30 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.Request <= 0 {
		c.Request = 5 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

func (c Config) progress(format string, args ...any) {
	fmt.Fprintf(c.Progress, "drill: "+format+"\n", args...)
}
