package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
)

const benchPushUsage = `
  push       the push API's transient pushes to --users receivers online on
             push/client connections, one user per push: single requests at
             stepped --rates, then --batch pushes per request at --batch-rates;
             accepted rate, accept and end-to-end latency, loss, API and push
             CPU and RSS per step; each mode stops at the first step it cannot
             sustain

push starts "tether migrate" on a fresh MySQL database of --mysql-server,
"tether api" (with a bootstrap admin key that creates the push key) and
"tether push", unless --api and --push name running ones (then also
--push-api-key, --token-key-file and --mysql).
`

// runBenchPush runs `tether bench push`.
func runBenchPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started, command := time.Now(), benchCommand("push", args)
	fs := flag.NewFlagSet("bench push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.PushBenchConfig
	st := &cfg.Stack
	exe, _ := os.Executable()
	fs.StringVar(&st.Exe, "exe", exe, "binary started as migrate, api, push and the workers")
	fs.StringVar(&st.MySQLServer, "mysql-server", "root@tcp(127.0.0.1:3306)/", "MySQL server a started stack creates its database on (dropped at the end)")
	fs.StringVar(&st.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis of the stack")
	fs.StringVar(&st.Prefix, "redis-prefix", "", "Redis key prefix (default: a fresh one for a started stack)")
	fs.DurationVar(&st.Heartbeat, "heartbeat", 30*time.Second, "heartbeat interval of a started push node")
	fs.StringVar(&st.APIURL, "api", "", "use the running API at this base URL instead of starting one")
	fs.StringVar(&st.APIAdmin, "api-admin", "", "admin address of the running API (/debug/pprof for --api-profile)")
	fs.IntVar(&st.APIPID, "api-pid", 0, "process id of the running API (/proc CPU and RSS)")
	fs.StringVar(&st.PushAddr, "push", "", "TCP address of the running push node")
	fs.StringVar(&st.PushAdmin, "push-admin", "", "admin address of the running push node")
	fs.IntVar(&st.PushPID, "push-pid", 0, "process id of the running push node (/proc CPU and RSS)")
	fs.StringVar(&st.KeyFile, "token-key-file", "", "file with the running cluster's token private key (the receivers' tokens are minted)")
	fs.StringVar(&st.MySQLDSN, "mysql", "", "DSN of the running cluster's database (the receivers are inserted)")
	fs.StringVar(&cfg.APIKey, "push-api-key", "", "push-scope API key of the running API (with a rate limit above the rates)")
	fs.IntVar(&cfg.Users, "users", 2000, "receivers online, one connection each")
	fs.IntVar(&cfg.Senders, "senders", 2, "sender processes")
	fs.IntVar(&cfg.Receivers, "receivers", 2, "receiver processes")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "requests in flight per sender process (keep-alive connections)")
	fs.IntVar(&cfg.Batch, "batch", 100, "pushes per request of the batched steps (at most 500)")
	rates := fs.String("rates", "1000,2500,5000,10000,15000,20000", "pushes per second of the single steps, comma-separated")
	batchRates := fs.String("batch-rates", "5000,10000,20000,40000,60000", "pushes per second of the batched steps, comma-separated")
	fs.DurationVar(&cfg.Step, "step", 5*time.Second, "length of each step")
	fs.DurationVar(&cfg.Grace, "grace", 3*time.Second, "how long after a step its pushes may still arrive before they count as lost")
	fs.DurationVar(&cfg.MaxP99, "max-p99", 500*time.Millisecond, "a step whose end-to-end p99 is above this is not sustained")
	fs.StringVar(&cfg.Profile, "api-profile", "", "write a CPU profile of the API taken during each step to <this>-<mode>-<rate>.pprof")
	fs.StringVar(&cfg.PushProfile, "push-profile", "", "write a CPU profile of the push node taken during each step to <this>-<mode>-<rate>.pprof")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "bound of the whole run")
	resultsDir := fs.String("results", "bench/results", `folder the result document is appended to ("" for none)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench push: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.Rates, err = parseRates(*rates); err != nil {
		return fmt.Errorf("bench push: --rates: %w", err)
	}
	if cfg.BatchRates, err = parseRates(*batchRates); err != nil {
		return fmt.Errorf("bench push: --batch-rates: %w", err)
	}
	st.Env, st.Stderr = benchEnv(), stderr
	cfg.Worker = loadgen.WorkerArgs{Exe: st.Exe, Args: []string{"bench-worker"}, Env: benchEnv()}
	cfg.Stderr = stderr
	r, err := loadgen.RunPushBench(ctx, cfg)
	if err != nil {
		return err
	}
	if err := loadgen.WritePushBenchTable(stderr, r); err != nil {
		return err
	}
	return writeBenchResult("push", started, command, benchParams(fs), r, *resultsDir, stdout, stderr)
}
