package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tetherim/tether/internal/drill"
)

const drillUsage = `Usage: tether drill [--quick] [--faults a,b] [--json] [flags]

Starts a cluster of real processes (2 tether api, 2 tether push, a MariaDB and
a Redis of its own on spare loopback ports), drives online users sending 1:1
and group messages, injects each fault under load and checks every frame and
the database. Prints one row per fault (--json: the report as JSON on stdout)
and exits non-zero on any loss, duplicate, reorder or cross-user delivery.
With --api and --push it drills a running cluster instead (the client-side
faults only). See docs/drill.md.

`

// runDrill runs `tether drill`.
func runDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, drillUsage); fs.PrintDefaults() }
	var cfg drill.Config
	exe, _ := os.Executable()
	fs.StringVar(&cfg.Exe, "exe", exe, "tether binary the cluster runs")
	fs.BoolVar(&cfg.Quick, "quick", false, "the quick drill: 50 users, the quick faults, shorter phases (CI)")
	faults := fs.String("faults", "", "comma-separated faults to run (default: all, or the quick ones with --quick)")
	list := fs.Bool("list", false, "list the faults and exit")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.IntVar(&cfg.Users, "users", 0, "online users, each with a checking client (default 100, quick 50)")
	fs.IntVar(&cfg.GroupSize, "group-size", 10, "users per group")
	fs.Float64Var(&cfg.Rate, "rate", 0, "messages per second, all users together (default 40, quick 25)")
	fs.DurationVar(&cfg.Before, "before", 0, "load before each fault (default 2s)")
	fs.DurationVar(&cfg.Hold, "hold", 0, "how long each fault lasts (default 6s, quick 5s)")
	fs.DurationVar(&cfg.After, "after", 0, "load after each fault is healed (default 3s, quick 2s)")
	fs.DurationVar(&cfg.Settle, "settle", 0, "bound on each phase's last deliveries (default 30s)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 0, "push nodes' heartbeat interval (default 2s)")
	fs.StringVar(&cfg.Dir, "dir", "", "working directory for data and logs (default: a temporary one, removed after a passing drill)")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the cluster's processes (their logs are in the working directory's logs/)")
	var target drill.Target
	apis := fs.String("api", "", "drill a running cluster: its REST base URLs, comma-separated (then also --push, --mysql, --token-key-file; only the client-side faults run)")
	nodes := fs.String("push", "", "the running cluster's push nodes (client TCP addresses), comma-separated")
	fs.StringVar(&target.MySQL, "mysql", "", "the running cluster's MySQL DSN: the drill inserts its users there and reads the truth")
	fs.StringVar(&target.KeyFile, "token-key-file", "", "file with the running cluster's token private key (base64 seed), to sign the drill users' tokens")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound of the whole drill")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *list {
		for _, f := range drill.Faults() {
			q := ""
			if f.Quick {
				q += " (quick)"
			}
			if f.Target {
				q += " (also against a running cluster)"
			}
			fmt.Fprintf(stdout, "%-22s %s%s\n", f.Name, f.What, q)
		}
		return nil
	}
	if *apis != "" || *nodes != "" {
		target.APIs, target.Nodes = strings.Split(*apis, ","), strings.Split(*nodes, ",")
		cfg.Target = &target
	}
	if *faults != "" {
		cfg.Faults = strings.Split(*faults, ",")
	}
	cfg.Progress = stderr
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := drill.Run(ctx, cfg)
	if err != nil {
		return err
	}
	table := stdout
	if *asJSON {
		table = stderr
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	if err := drill.WriteTable(table, rep); err != nil {
		return err
	}
	if !rep.Passed {
		return fmt.Errorf("failed: %d violations", len(rep.Violations))
	}
	return nil
}
