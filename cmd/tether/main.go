// Command tether runs Tether: `tether dev` runs everything in one process
// for development; `tether api`, `tether push` and `tether migrate` are the
// production processes; `tether keygen` makes a token key pair and `tether
// chat` is a terminal client. `tether help` lists the subcommands and
// `tether help <command>` its settings, which are also environment variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/stack"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/token"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "devel"

const usage = `Tether: instant messaging and push server.

Usage: tether <command> [flags]

Commands:
  dev       run API, relay and a push node in one process (SQLite, in-process Redis)
  api       run the REST API and outbox relay (MySQL, Redis)
  push      run a push node (Redis); "tether push --upgrade" (or SIGUSR2)
            hot-restarts the running one without dropping a connection
  migrate   apply the database migrations (--mysql DSN or --sqlite path)
  keygen    print a new token key pair as environment variables
  apikey    create, list or revoke push API keys in the database (create|list|revoke)
  switch    list, get, set or show the history of the live switches (list|get|set|history)
  chat      terminal chat client
  top       the per-second table of a process or the whole cluster, live
  bench     measure Tether: idle connections, broadcasts, a cluster, chat,
            groups, the push API ("tether help bench" describes each scenario)
  drill     fault drills: a cluster of real processes under load, one fault
            at a time, every delivery checked (docs/drill.md)
  init      "tether init -- tether push ...": a container's first process that
            survives the node's hot restarts, reaps orphans, forwards signals
  version   print the version
  help      this text; "tether help <command>" lists a command's flags

Every flag can also be set by its TETHER_* environment variable; a flag wins.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" { // before any signal handling of its own
		os.Exit(runInit(os.Args[2:])) // init_linux.go
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one subcommand and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "dev":
		var c config.DevConfig
		if c, err = config.LoadDev(args, getenv); err == nil {
			err = serveDev(ctx, c, stderr)
		}
	case "api":
		var c config.APIConfig
		if c, err = config.LoadAPI(args, getenv); err == nil {
			err = serveAPI(ctx, c, stderr)
		}
	case "push":
		var c config.PushConfig
		if rest, up := cutUpgradeFlag(args); up { // hot restart of the running node; hotrestart.go
			if c, err = config.LoadPush(rest, getenv); err == nil || c.NodeID != "" {
				err = requestUpgrade(ctx, c, stdout) // only the node id and socket settings matter
			}
		} else if c, err = config.LoadPush(args, getenv); err == nil {
			err = servePush(ctx, c, takeoverRequested(getenv), stderr)
		}
	case "migrate":
		var c config.MigrateConfig
		if c, err = config.LoadMigrate(args, getenv); err == nil {
			err = migrate(ctx, c, stderr)
		}
	case "chat":
		var c config.ChatConfig
		if c, err = config.LoadChat(args, getenv); err == nil {
			err = runChat(ctx, c, stdin, stdout, c.Log.New(stderr))
		}
	case "drill": // drill.go
		err = runDrill(ctx, args, stdout, stderr)
	case "keygen":
		err = keygen(args, stdout)
	case "apikey": // apikey.go
		err = apikey(ctx, args, getenv, stdout)
	case "switch": // switch.go
		err = switchCmd(ctx, args, getenv, stdout)
	case "top": // top.go
		err = topCmd(ctx, args, getenv, stdout)
	case "bench": // bench.go
		err = runBench(ctx, args, stdout, stderr)
	case "bench-worker": // hidden: started by bench
		err = runBenchWorker(ctx, args, getenv, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "tether %s\n", buildVersion())
		return 0
	case "help", "--help", "-help", "-h":
		return help(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, config.ErrHelp) {
		return help([]string{cmd}, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tether %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	for _, s := range config.All() {
		if s.Command == args[0] {
			s.PrintUsage(stdout)
			return 0
		}
	}
	switch args[0] {
	case "keygen", "version", "help":
		fmt.Fprintf(stdout, "Usage: tether %s (no flags)\n", args[0])
		return 0
	case "apikey":
		fmt.Fprint(stdout, apikeyUsage)
		return 0
	case "switch":
		fmt.Fprint(stdout, switchUsage)
		return 0
	case "top":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "bench":
		fmt.Fprint(stdout, benchHelp())
		return 0
	case "drill":
		return run(context.Background(), []string{"drill", "--help"}, nil, nil, stdout, stdout)
	}
	fmt.Fprintf(stderr, "tether help: unknown command %q\n", args[0])
	return 2
}

// stoppable is a started stack.
type stoppable interface {
	Err() <-chan error
	Stop(ctx context.Context) error
}

// serveUntilDone runs s until a signal or a component failure, then stops it
// within timeout.
func serveUntilDone(ctx context.Context, s stoppable, timeout time.Duration, log *slog.Logger) error {
	var fatal error
	select {
	case <-ctx.Done():
		log.Info("signal received; stopping", "grace", timeout)
	case fatal = <-s.Err():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return errors.Join(fatal, s.Stop(sctx))
}

func serveDev(ctx context.Context, c config.DevConfig, stderr io.Writer) error {
	log := c.Log.New(stderr)
	log.Info("tether dev", "version", buildVersion(), "config", c)
	d, err := stack.StartDev(ctx, c, stack.WithLogger(log))
	if err != nil {
		return err
	}
	log.Info("ready: try `"+selfCommand(os.Args[0])+" chat --user alice` in another terminal",
		"api", "http://"+d.HTTPAddr, "push", d.PushAddr, "admin", "http://"+d.AdminAddr)
	return serveUntilDone(ctx, d, 10*time.Second, log)
}

// selfCommand is how a person runs this binary again: its path as typed
// (bin/tether), or go run when it is go run's temporary build.
func selfCommand(arg0 string) string {
	if strings.Contains(arg0, "go-build") {
		return "go run ./cmd/tether"
	}
	return arg0
}

func serveAPI(ctx context.Context, c config.APIConfig, stderr io.Writer) error {
	log := c.Log.New(stderr)
	log.Info("tether api", "version", buildVersion(), "config", c)
	a, err := stack.StartAPI(ctx, c, stack.WithLogger(log))
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, a, c.ShutdownTimeout, log)
}

func servePush(ctx context.Context, c config.PushConfig, takeover bool, stderr io.Writer) error {
	log := c.Log.New(stderr)
	log.Info("tether push", "version", buildVersion(), "config", c, "takeover", takeover)
	usr2, stopUSR2 := notifyUpgrade() // before the node serves; see hotrestart.go
	defer stopUSR2()
	opts := []stack.Option{stack.WithLogger(log)}
	if takeover {
		opts = append(opts, stack.WithTakeover())
	}
	p, err := stack.StartPush(ctx, c, opts...)
	if err != nil {
		return err
	}
	// Stop drains: the window for Reconnect frames, then the grace period.
	return servePushUpgradable(ctx, p, c, usr2, log)
}

func migrate(ctx context.Context, c config.MigrateConfig, stderr io.Writer) error {
	log := c.Log.New(stderr)
	log.Info("tether migrate", "version", buildVersion(), "config", c)
	sc := store.Config{Driver: "mysql", DSN: c.MySQLDSN}
	if c.SQLitePath != "" {
		if err := os.MkdirAll(filepath.Dir(c.SQLitePath), 0o700); err != nil {
			return err
		}
		sc = store.Config{Driver: "sqlite", DSN: c.SQLitePath}
	}
	db, err := store.Open(ctx, sc, metrics.New())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("after migrating: %w", err)
	}
	log.Info("schema is current", "driver", sc.Driver)
	return nil
}

func keygen(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments, got %q", args[0])
	}
	pub, priv, err := token.GenerateKey()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "TETHER_TOKEN_PRIVATE_KEY=%s\nTETHER_TOKEN_PUBLIC_KEY=%s\n",
		token.EncodePrivate(priv), token.EncodePublic(pub))
	return err
}

// buildVersion is the -X version, with the VCS revision when the build has one.
func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
