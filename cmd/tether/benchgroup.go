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

const benchGroupUsage = `
  group      one group of --members (2,000) with --online (500) members on
             push/client connections; --messages group messages over REST at
             --rate: accept latency, and the time until every online member
             has each message (issue 5, scenario "group")
`

// runBenchGroup runs `tether bench group` on a started (or running) stack,
// like the chat scenario.
func runBenchGroup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started, command := time.Now(), benchCommand("group", args)
	fs := flag.NewFlagSet("bench group", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var st loadgen.Stack
	exe, _ := os.Executable()
	fs.StringVar(&st.Exe, "exe", exe, "binary started as migrate, api, push and the workers")
	fs.StringVar(&st.MySQLServer, "mysql-server", "root@tcp(127.0.0.1:3306)/", "MySQL server a started stack creates its database on (dropped at the end)")
	fs.StringVar(&st.RedisAddr, "redis-addr", "127.0.0.1:6379", "Redis of the stack")
	fs.StringVar(&st.Prefix, "redis-prefix", "", "Redis key prefix (default: a fresh one for a started stack)")
	fs.DurationVar(&st.Heartbeat, "heartbeat", 30*time.Second, "heartbeat interval of a started push node")
	fs.StringVar(&st.APIURL, "api", "", "use the running API at this base URL instead of starting one")
	fs.StringVar(&st.APIAdmin, "api-admin", "", "admin address of the running API")
	fs.IntVar(&st.APIPID, "api-pid", 0, "process id of the running API (/proc CPU)")
	fs.StringVar(&st.PushAddr, "push", "", "TCP address of the running push node")
	fs.StringVar(&st.PushAdmin, "push-admin", "", "admin address of the running push node")
	fs.StringVar(&st.MySQLDSN, "mysql", "", "DSN of the running cluster's database (the members are inserted)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound of the whole run")
	resultsDir := fs.String("results", "bench/results", `folder the result document is appended to ("" for none)`)
	var g loadgen.GroupConfig
	fs.IntVar(&g.Members, "members", 2000, "members of the group, the sender (its owner) included")
	fs.IntVar(&g.Online, "online", 500, "members online on push/client connections")
	fs.IntVar(&g.Receivers, "receivers", 2, "processes the online members run in")
	fs.IntVar(&g.Messages, "messages", 50, "group messages sent, one at a time")
	fs.Float64Var(&g.Rate, "rate", 5, "group messages per second")
	fs.DurationVar(&g.Grace, "grace", 10*time.Second, "how long after the last send deliveries may still arrive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench group: unexpected argument %q", fs.Arg(0))
	}
	st.Env = benchEnv()
	st.Stderr = stderr
	g.Stack, g.Timeout, g.Stderr = st, *timeout, stderr
	g.Worker = loadgen.WorkerArgs{Exe: st.Exe, Args: []string{"bench-worker"}, Env: benchEnv()}
	r, err := loadgen.RunGroup(ctx, g)
	if err == nil {
		err = loadgen.WriteGroupTable(stderr, r)
	}
	if err != nil {
		return err
	}
	return writeBenchResult("group", started, command, benchParams(fs), r, *resultsDir, stdout, stderr)
}
