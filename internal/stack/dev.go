package stack

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push"
	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// Files StartDev keeps in the data directory.
const (
	DevDatabaseFile = "tether.db" // the SQLite database
	DevKeyFile      = "token.key" // the Ed25519 private key, base64 seed, mode 0600
	devNodeID       = "dev"
)

// Dev is a running `tether dev`: API, relay and one push node in one
// process, on SQLite and an in-process Redis-protocol server.
type Dev struct {
	HTTPAddr  string // bound REST address
	PushAddr  string // bound push TCP address
	WSAddr    string // bound push WebSocket address (clients dial ws://WSAddr/ws)
	AdminAddr string // bound admin address
	RedisAddr string // the in-process Redis server (loopback)
	DataDir   string

	log   *slog.Logger
	run   *runner
	mr    *miniredis.Miniredis
	rdb   *redis.Client
	db    *store.DB
	core  *apiCore
	node  *push.Node
	admin *httpServer
	clock context.CancelFunc
	m     *metrics.Metrics
	live  *liveTable // the per-second table; live.go

	nodeDrained atomic.Bool // an operator drained the node (control.go): it has stopped itself

	stopOnce sync.Once
	stopErr  error
}

// StartDev starts the zero-setup development mode: it creates cfg.DataDir,
// migrates the SQLite database in it, generates the token key on first run,
// and serves REST, push and admin on the configured addresses. Nothing
// outside the process is needed; Redis state lives in memory and is rebuilt
// by clients syncing after a restart.
func StartDev(ctx context.Context, cfg config.DevConfig, opts ...Option) (_ *Dev, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := buildOptions(opts, func() *slog.Logger { return cfg.Log.New(os.Stderr) }).log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	priv, err := loadOrCreateKey(filepath.Join(cfg.DataDir, DevKeyFile), log)
	if err != nil {
		return nil, err
	}

	// d is not the named result: a failed return would nil it before the
	// deferred undo below runs.
	d := &Dev{DataDir: cfg.DataDir, log: log, run: newRunner(log)}
	// On any failure below, undo what was started, in reverse.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			d.run.wait()
		}
	}()

	d.mr = miniredis.NewMiniRedis()
	if err := d.mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("in-process redis: %w", err)
	}
	undo = append(undo, d.mr.Close)
	d.RedisAddr = d.mr.Addr()
	clockCtx, stopClock := context.WithCancel(context.Background())
	d.clock = stopClock
	undo = append(undo, stopClock)
	d.run.goFunc("redis-clock", func() error { return runClock(clockCtx, d.mr) })

	m := metrics.New(metrics.WithLogger(log.With("node", devNodeID)))
	d.m = m
	d.rdb, err = openRedis(ctx, &redis.Options{Addr: d.mr.Addr()}, m)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { closeQuietly(d.rdb) })

	d.db, err = store.Open(ctx, store.Config{Driver: "sqlite", DSN: filepath.Join(cfg.DataDir, DevDatabaseFile)}, m)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	undo = append(undo, func() { closeQuietly(d.db) })
	if err := d.db.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate sqlite: %w", err)
	}

	api, pushCfg := config.DefaultAPI(), config.DefaultPush()
	pushCfg.NodeID, pushCfg.TCPAddr, pushCfg.WSAddr = devNodeID, cfg.PushAddr, cfg.WSAddr
	signer := token.NewSigner(priv, api.AccessTTL)
	d.core, err = startAPICore(apiParts{
		db:         d.db,
		rdb:        d.rdb,
		reg:        route.NewRegistry(d.rdb, api.Redis.Prefix, registryTTL),
		signer:     signer,
		refreshTTL: api.RefreshTTL,
		pushAPI:    cfg.PushAPI,
		throttle:   cfg.Throttle,
		relay:      relay.Config{BatchSize: api.RelayBatch, PollInterval: api.RelayPoll},
		streamLen:  int64(api.RelayStreamLen),
		webhook:    cfg.Webhook,
		bulkheads:  cfg.Bulkheads.Set(),
		httpAddr:   cfg.HTTPAddr,
		m:          m,
		log:        log,
		switches:   newAPISwitches(ctx, d.db, d.rdb, api.Redis.Prefix, m), // switches.go

		recallWindow: cfg.RecallWindow,
	}, d.run)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = d.core.stop(context.Background()) })

	// One process: the node reads the API's switches. An operator's drain
	// drains the in-process node (push then stops until tether dev restarts);
	// it cannot hot-restart (no upgrade socket).
	d.node, err = startNode(ctx, pushCfg, d.rdb, token.NewVerifier(signer.Public()), m, log, hotRestartConfig{}, d.core.switches.svc.Registry, nil, d.devControl)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = d.node.Stop(context.Background()) })

	d.live = startLive(d.run, m, d.rdb, api.Redis.Prefix, devNodeID, live.RoleDev, log)
	undo = append(undo, d.live.stop)
	d.admin, err = listenHTTP("admin", cfg.AdminAddr, withOps(adminHandler(m, d.core.health.set, d.core.health.checks(), d.live, log), d.core.ops, "dev", d.live), log)
	if err != nil {
		return nil, err
	}
	d.admin.serve(d.run)

	d.HTTPAddr, d.PushAddr, d.WSAddr, d.AdminAddr = d.core.http.addr(), d.node.TCPAddr().String(), d.node.WSAddr().String(), d.admin.addr()
	log.Info("dev started", "http", d.HTTPAddr, "push", d.PushAddr, "ws", d.WSAddr, "admin", d.AdminAddr, "data", cfg.DataDir)
	return d, nil
}

// Err delivers the first unexpected failure of a background component.
func (d *Dev) Err() <-chan error { return d.run.fatal }

// Metrics is the process's dispatch point: what the admin /metrics serves.
func (d *Dev) Metrics() *metrics.Metrics { return d.m }

// Sessions is the number of live sessions on the push node.
func (d *Dev) Sessions() int { return d.node.Sessions() }

// Stop drains the REST server, stops the relay and the push node, and closes
// the database and the in-process Redis. It is safe to call twice.
func (d *Dev) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		errs := []error{d.core.stop(ctx), d.admin.shutdown(ctx)}
		if !d.nodeDrained.Load() {
			errs = append(errs, d.node.Stop(ctx))
		}
		d.live.stop()
		d.clock()
		d.run.wait()
		errs = append(errs, d.rdb.Close(), d.db.Close())
		d.mr.Close()
		d.stopErr = errors.Join(errs...)
		d.log.Info("dev stopped")
	})
	return d.stopErr
}

// runClock advances the in-process Redis's clock with real time: miniredis
// only expires keys when told time has passed, and node heartbeat keys and
// other TTLs must expire as they would in Redis.
func runClock(ctx context.Context, mr *miniredis.Miniredis) error {
	const tick = 250 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// loadOrCreateKey reads the dev token key, or creates it (mode 0600) on first run.
func loadOrCreateKey(path string, log *slog.Logger) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := token.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(ferr, fs.ErrExist) {
			// Another process created it first: use theirs.
			return loadOrCreateKey(path, log)
		}
		if ferr != nil {
			return nil, fmt.Errorf("token key: %w", ferr)
		}
		_, werr := f.WriteString(token.EncodePrivate(priv) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("token key: %w", werr)
		}
		log.Info("generated token key", "path", path)
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	priv, err := token.ParsePrivate(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("token key %s: %w (delete it to generate a new one; existing logins end)", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("token key %s is readable by others and cannot be restricted: %w", path, err)
		}
		log.Warn("token key was readable by others; restricted to 0600", "path", path)
	}
	return priv, nil
}
