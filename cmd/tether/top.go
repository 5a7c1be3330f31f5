package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/top"
	"github.com/tetherim/tether/shared/live"
)

const topUsage = `Usage: tether top [flags]

The per-second table of a process, or of the whole cluster: one row per
process per second (README: "The per-second table and tether top").
Timeouts, server errors and shed work show red, backlog and queued work yellow.

  --admin URL        a process's admin address (default: TETHER_TOP_ADMIN or
                     http://127.0.0.1:9090): its own table, from GET /live
  --cluster          every process publishing to the same Redis and their sum
                     (the first row), read through --admin's GET /live/cluster
  --redis-addr HOST:PORT
                     read the cluster from Redis itself, no admin address
                     needed (implies --cluster); with --redis-prefix P
                     (default: TETHER_REDIS_PREFIX or tether:) and
                     --redis-password PW (default: TETHER_REDIS_PASSWORD)
  --node ID          one process of the cluster (a push node's id, "dev", ...)
  --once             the newest second, then exit
  --json             JSON instead of the table: a live.Snapshot per line, with
                     --cluster a live.ClusterView (sum and processes) per line

Columns: cmd units of work/s, p50ms/p99ms their latency, htime timeouts,
err server errors, cerr client errors, cmdq backlog (outbox, webhook, job
stream lag), pend unacked stream entries, slowKB bytes queued to slow
clients, work/workq/shed bulkhead workers busy/queued/shed, sql_c/sql_t and
rds_c/rds_t calls and milliseconds spent on each dependency, sess/hs/login
sessions total/handshaking/logged in, gc/gc_ms collections and pause,
heapMB, gor goroutines, rxKB/txKB network, key%/rev%/ver% cache hit rates.
`

// topCmd runs `tether top`.
func topCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	admin := fs.String("admin", envOr(getenv, "TETHER_TOP_ADMIN", "http://127.0.0.1:9090"), "")
	cluster := fs.Bool("cluster", false, "")
	redisAddr := fs.String("redis-addr", "", "")
	prefix := fs.String("redis-prefix", envOr(getenv, "TETHER_REDIS_PREFIX", "tether:"), "")
	password := fs.String("redis-password", getenv("TETHER_REDIS_PASSWORD"), "")
	node := fs.String("node", "", "")
	once := fs.Bool("once", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprint(stdout, topUsage)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stdout, topUsage)
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := top.Config{Cluster: *cluster, Node: *node, Once: *once, JSON: *asJSON, Every: time.Second}
	if *redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, Password: *password, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
		defer rdb.Close()
		cfg.Source, cfg.Cluster = top.Redis{R: live.NewRedis(rdb, *prefix)}, true
	} else {
		cfg.Source = top.Admin{Base: *admin}
	}
	return top.Run(ctx, cfg, stdout)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
