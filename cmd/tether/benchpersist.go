package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
)

// The persisted scenarios: chat, frames and storm need the whole stack
// (MySQL, the API with its relay, a push node), so their flags differ from
// the push-only benches in bench.go.
const benchPersistUsage = `
  chat       senders POST /v1/messages at stepped --rates to recipients online
             on push/client connections: accepted rate, end-to-end latency,
             loss, MySQL and Redis time per message; stops at the first step it
             cannot sustain
  frames     chat at one --rate: client-to-server frames per 1,000 delivered
             messages (acks, pings; REST syncs counted apart)
  storm      --n push/client clients; the push node is killed (SIGKILL) and
             started again on the same port while messages flow: time until
             all are back and synced, loss

chat, frames and storm start "tether migrate" on a fresh MySQL database of
--mysql-server, "tether api" and "tether push", unless --api and --push name
running ones.
`

// runBenchPersisted runs `tether bench chat|frames|storm`.
func runBenchPersisted(ctx context.Context, kind string, args []string, stdout, stderr io.Writer) error {
	started, command := time.Now(), benchCommand(kind, args)
	fs := flag.NewFlagSet("bench "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var st loadgen.Stack
	exe, _ := os.Executable()
	fs.StringVar(&st.Exe, "exe", exe, "binary started as migrate, api, push and the workers")
	fs.StringVar(&st.MySQLServer, "mysql-server", "root@tcp(127.0.0.1:3306)/", "MySQL server a started stack creates its database on (dropped at the end)")
	fs.StringVar(&st.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis of the stack")
	fs.StringVar(&st.Prefix, "redis-prefix", "", "Redis key prefix (default: a fresh one for a started stack)")
	fs.DurationVar(&st.Heartbeat, "heartbeat", 30*time.Second, "heartbeat interval of a started push node")
	fs.StringVar(&st.APIURL, "api", "", "use the running API at this base URL (e.g. http://127.0.0.1:8080) instead of starting one")
	fs.StringVar(&st.APIAdmin, "api-admin", "", "admin address of the running API (/metrics: MySQL and Redis time)")
	fs.IntVar(&st.APIPID, "api-pid", 0, "process id of the running API (/proc CPU and RSS)")
	fs.StringVar(&st.PushAddr, "push", "", "TCP address of the running push node")
	fs.StringVar(&st.PushAdmin, "push-admin", "", "admin address of the running push node")
	fs.IntVar(&st.PushPID, "push-pid", 0, "process id of the running push node (storm: killed and started again with its command line and environment)")
	fs.StringVar(&st.KeyFile, "token-key-file", "", "file with the running cluster's token private key (storm mints access tokens)")
	fs.StringVar(&st.MySQLDSN, "mysql", "", "DSN of the running cluster's database (storm inserts its users)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound of the whole run")
	resultsDir := fs.String("results", "bench/results", `folder the result document is appended to ("" for none)`)

	var chat loadgen.ChatConfig
	var rates string
	var frames loadgen.FramesConfig
	heartbeatAcks := true
	var storm loadgen.StormConfig
	chatFlags := func(c *loadgen.ChatConfig) {
		fs.IntVar(&c.Users, "users", 500, "senders, and as many recipients online")
		fs.DurationVar(&c.Grace, "grace", 5*time.Second, "how long after a step its messages may still arrive before they count as lost")
		fs.IntVar(&c.Senders, "senders", 2, "sender processes")
		fs.IntVar(&c.Receivers, "receivers", 2, "receiver processes")
		fs.IntVar(&c.Concurrency, "concurrency", 128, "requests in flight per sender process (keep-alive connections)")
	}
	switch kind {
	case "chat":
		chatFlags(&chat)
		fs.StringVar(&rates, "rates", "250,500,1000,2000,5000,7500,10000", "messages per second of each step, comma-separated")
		fs.DurationVar(&chat.Step, "step", 10*time.Second, "length of each step")
		fs.DurationVar(&chat.MaxP99, "max-p99", time.Second, "a step whose end-to-end p99 is above this is not sustained")
		fs.StringVar(&chat.Profile, "api-profile", "", "write a CPU profile of the API taken during each step to <this>-step<N>.pprof")
	case "frames":
		chatFlags(&frames.ChatConfig)
		fs.IntVar(&frames.Rate, "rate", 1000, "messages per second")
		fs.DurationVar(&frames.Duration, "duration", 30*time.Second, "how long")
		fs.IntVar(&frames.Burst, "burst", 20, "messages per recipient in the closing burst (n of n + 4; negative: none)")
		fs.BoolFunc("heartbeat-acks", "set the heartbeat_acks switch of the started stack (default on: protocol version 2; =false: version 1)", func(v string) error {
			on, err := strconv.ParseBool(v)
			heartbeatAcks = on
			return err
		})
	case "storm":
		fs.IntVar(&storm.N, "n", 15000, "clients (push/client), one user each")
		fs.IntVar(&storm.Workers, "workers", 0, "client processes (default: 5000 clients each, at least 3)")
		fs.IntVar(&storm.Targets, "targets", 0, "clients that receive messages throughout (default n/10, at most 2000)")
		fs.IntVar(&storm.Rate, "rate", 500, "messages per second to the targets, before, during and after the cut")
		fs.DurationVar(&storm.Before, "before", 2*time.Second, "sending before the cut")
		fs.DurationVar(&storm.Down, "down", 0, "how long the node stays dead before it is started again")
		fs.DurationVar(&storm.After, "after", time.Second, "sending after every client is back")
		fs.DurationVar(&storm.Wait, "wait", time.Minute, "bound on waiting for every client to be back and synced")
		fs.DurationVar(&storm.Grace, "grace", 10*time.Second, "bound on waiting for the last deliveries")
		fs.StringVar(&storm.Goroutines, "push-goroutines", "", "write the restarted node's goroutine dump, taken 2s after it is ready, to this file")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected argument %q", kind, fs.Arg(0))
	}
	st.Env = benchEnv()
	st.Stderr = stderr
	worker := loadgen.WorkerArgs{Exe: st.Exe, Args: []string{"bench-worker"}, Env: benchEnv()}

	var res any
	var err error
	switch kind {
	case "chat":
		if chat.Rates, err = parseRates(rates); err != nil {
			return err
		}
		chat.Stack, chat.Worker, chat.Timeout, chat.Stderr = st, worker, *timeout, stderr
		var r loadgen.ChatResult
		if r, err = loadgen.RunChat(ctx, chat); err == nil {
			err = loadgen.WriteChatTable(stderr, r)
		}
		res = r
	case "frames":
		st.Switches = [][2]string{{"heartbeat_acks", map[bool]string{true: "on", false: "off"}[heartbeatAcks]}}
		frames.Stack, frames.Worker, frames.Timeout, frames.Stderr = st, worker, *timeout, stderr
		var r loadgen.FramesResult
		if r, err = loadgen.RunFrames(ctx, frames); err == nil {
			err = loadgen.WriteFramesTable(stderr, r)
		}
		res = r
	case "storm":
		storm.Stack, storm.Worker, storm.Timeout, storm.Stderr = st, worker, *timeout, stderr
		var r loadgen.StormResult
		if r, err = loadgen.RunStorm(ctx, storm); err == nil {
			err = loadgen.WriteStormTable(stderr, r)
		}
		res = r
	}
	if err != nil {
		return err
	}
	return writeBenchResult(kind, started, command, benchParams(fs), res, *resultsDir, stdout, stderr)
}

// parseRates parses "250,500,1000".
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("bench chat: --rates: %q is not a positive number", f)
		}
		out = append(out, r)
	}
	return out, nil
}
