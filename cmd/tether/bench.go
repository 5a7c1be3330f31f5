package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/shared/token"
)

// benchUsage opens `tether bench`'s help; each scenario's file adds the
// lines describing it (benchPersistUsage, benchGroupUsage, benchPushUsage)
// and benchHelp puts them together, so every scenario the usage line names
// is described.
const benchUsage = `Usage: tether bench idle|broadcast|cluster|chat|frames|storm|group|push|report [flags]
       tether bench <scenario> --help   the scenario's flags

Measurements of Tether (README, section Benchmarks; docs/benchmarks.md).

  idle       connect --n clients over --workers processes, deliver one message
             to each, let them idle, and measure the node: connect rate, RSS and
             heap per connection, idle CPU
  broadcast  connect --n clients and measure broadcast deliveries per second
  cluster    start --nodes push nodes sharing one Redis prefix, connect
             --per-node clients to each and time broadcasts until all have them

idle, broadcast and cluster start a fresh "tether push" on free loopback
ports (Redis at --redis-addr) unless --push names a running one.
`

// benchReportUsage closes `tether bench`'s help.
const benchReportUsage = `
  report     write docs/benchmarks.md and its chart from the newest result of
             each scenario in --results

Each scenario prints a table on stderr and one JSON document on stdout,
which is also appended to --results (default bench/results) as
<scenario>-<UTC stamp>.json.
`

// benchHelp is the whole help of `tether bench`.
func benchHelp() string {
	return benchUsage + benchPersistUsage + benchGroupUsage + benchPushUsage + benchReportUsage
}

// benchEnv is the environment bench children inherit: the parent's, so
// that they find the same Go runtime settings and test hooks.
var benchEnv = os.Environ

// isHelpFlag reports whether arg asks for help, as the flag package reads it.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h"
}

// runBench runs `tether bench <kind>`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && isHelpFlag(args[0]) {
			fmt.Fprint(stdout, benchHelp())
			return nil
		}
		fmt.Fprint(stderr, benchHelp())
		return errors.New("bench: name a scenario")
	}
	kind, args := args[0], args[1:]
	if kind == "report" {
		return runBenchReport(args, stderr)
	}
	if kind == "group" { // benchgroup.go
		return runBenchGroup(ctx, args, stdout, stderr)
	}
	if kind == "push" { // benchpush.go
		return runBenchPush(ctx, args, stdout, stderr)
	}
	if kind == "chat" || kind == "frames" || kind == "storm" { // benchpersist.go
		return runBenchPersisted(ctx, kind, args, stdout, stderr)
	}
	started, command := time.Now(), benchCommand(kind, args)
	fs := flag.NewFlagSet("bench "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	exe, _ := os.Executable()
	fs.IntVar(&cfg.N, "n", 15000, "connections, one user each")
	fs.IntVar(&cfg.Workers, "workers", 0, fmt.Sprintf("client worker processes (default: enough for %d connections each, at least 2)", loadgen.MaxPerWorker))
	fs.StringVar(&cfg.Platform, "platform", "desktop", "platform of every session")
	fs.StringVar(&cfg.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis of the node")
	fs.StringVar(&cfg.Prefix, "redis-prefix", "", "Redis key prefix of a running node (default: a fresh one for a started node)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "bound of the whole run")
	fs.StringVar(&cfg.Server.Exe, "exe", exe, "binary started as the node and the workers")
	fs.DurationVar(&cfg.Server.Heartbeat, "heartbeat", 30*time.Second, "heartbeat interval of a started node")
	fs.StringVar(&cfg.Server.PushAddr, "push", "", "measure the running node at this TCP address instead of starting one")
	fs.StringVar(&cfg.Server.AdminAddr, "admin", "", "admin address of the running node")
	fs.IntVar(&cfg.Server.PID, "pid", 0, "process id of the running node")
	fs.StringVar(&cfg.Server.NodeID, "node-id", "", "node id of the running node")
	fs.StringVar(&cfg.Server.KeyFile, "token-key-file", "", "file with the token private key of the running node's cluster (tether dev: .tether/token.key)")
	resultsDir := fs.String("results", "bench/results", `folder the result document is appended to ("" for none)`)
	var deliver string
	var settle, window time.Duration
	var profile string
	var rounds, nodes, perNode int
	var pushAcks bool
	switch kind {
	case "idle":
		fs.StringVar(&deliver, "deliver", "message", "how each connection gets its message: message (node stream) or broadcast")
		fs.DurationVar(&settle, "settle", 5*time.Second, "wait after the deliveries before measuring memory")
		fs.DurationVar(&window, "cpu-window", 0, "how long idle CPU is measured (default: one heartbeat interval)")
		fs.StringVar(&profile, "heap-profile", "", "write the node's heap profile, taken while the clients idle, to this file")
	case "broadcast":
		fs.IntVar(&rounds, "rounds", 5, "broadcasts sent one after another")
		fs.BoolVar(&pushAcks, "push-acks", false, "the clients answer every Push with a PushAck frame, as protocol version 1 clients do")
	case "cluster":
		fs.IntVar(&nodes, "nodes", 4, "push nodes started on this machine, sharing one Redis prefix")
		fs.IntVar(&perNode, "per-node", 15000, "connections to each node (--workers is then per node)")
		fs.IntVar(&rounds, "rounds", 5, "broadcasts sent one after another, each to every node")
		fs.DurationVar(&settle, "settle", 2*time.Second, "wait after the broadcasts before measuring memory")
	default:
		fmt.Fprint(stderr, benchHelp())
		return fmt.Errorf("bench: unknown scenario %q", kind)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected argument %q", kind, fs.Arg(0))
	}
	if kind == "cluster" && flagSet(fs, "n") {
		return errors.New("bench cluster: say --nodes and --per-node, not --n")
	}
	cfg.Server.Args = []string{"push"}
	cfg.Server.Env = benchEnv()
	cfg.Worker = loadgen.WorkerArgs{Exe: cfg.Server.Exe, Args: []string{"bench-worker"}, Env: benchEnv()}
	if pushAcks {
		cfg.Worker.Args = append(cfg.Worker.Args, "--push-acks")
	}
	cfg.Stderr = stderr

	var res any
	var err error
	switch kind {
	case "idle":
		var r loadgen.IdleResult
		r, err = loadgen.RunIdle(ctx, loadgen.IdleConfig{Config: cfg, Deliver: deliver, Settle: settle, CPUWindow: window, HeapProfile: profile})
		if err == nil {
			err = loadgen.WriteIdleTable(stderr, r)
		}
		res = r
	case "broadcast":
		var r loadgen.BroadcastResult
		r, err = loadgen.RunBroadcast(ctx, loadgen.BroadcastConfig{Config: cfg, Rounds: rounds})
		if err == nil {
			err = loadgen.WriteBroadcastTable(stderr, r)
		}
		res = r
	case "cluster":
		var r loadgen.ClusterResult
		r, err = loadgen.RunCluster(ctx, loadgen.ClusterConfig{Config: cfg, Nodes: nodes, PerNode: perNode, Rounds: rounds, Settle: settle})
		if err == nil {
			err = loadgen.WriteClusterTable(stderr, r)
		}
		res = r
	}
	if err != nil {
		return err
	}
	return writeBenchResult(kind, started, command, benchParams(fs), res, *resultsDir, stdout, stderr)
}

// runBenchWorker runs `tether bench-worker`: one worker process of a bench,
// started by the bench itself. It runs until its stdin ends, so it never
// outlives the bench that started it.
func runBenchWorker(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.WorkerConfig
	fs.IntVar(&cfg.ID, "id", 0, "worker number")
	fs.StringVar(&cfg.Addr, "addr", "", "push node address")
	fs.Int64Var(&cfg.FirstUID, "first-uid", 1, "first user id")
	fs.IntVar(&cfg.Count, "count", 0, "connections")
	fs.StringVar(&cfg.Platform, "platform", "desktop", "session platform")
	fs.BoolVar(&cfg.PushAcks, "push-acks", false, "answer every Push with a PushAck frame")
	role := fs.String("role", "", "a role worker of chat, frames or storm (configured over stdin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *role != "" {
		return loadgen.RunRole(ctx, *role, cfg.ID, stdin, stdout)
	}
	if cfg.Count > loadgen.MaxPerWorker {
		return fmt.Errorf("bench-worker: at most %d connections per process", loadgen.MaxPerWorker)
	}
	key, err := token.ParsePrivate(getenv(loadgen.EnvWorkerKey))
	if err != nil {
		return fmt.Errorf("bench-worker: %s: %w", loadgen.EnvWorkerKey, err)
	}
	cfg.Key = key
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	return loadgen.RunWorker(ctx, cfg, stdout)
}
