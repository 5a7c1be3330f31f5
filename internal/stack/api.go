package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/api/discovery"
	"github.com/tetherim/tether/api/ops"
	"github.com/tetherim/tether/api/pushapi"
	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/rest"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/api/throttle"
	"github.com/tetherim/tether/api/webhook"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/shared/blockmirror"
	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/switches"
	"github.com/tetherim/tether/shared/token"
)

// registryTTL is the node TTL the API's registry is built with. The API never
// writes node keys, so it only has to be a valid value.
const registryTTL = 15 * time.Second

// API is a running `tether api`: the REST server, the outbox relay and the
// admin server.
type API struct {
	HTTPAddr  string // bound REST address
	AdminAddr string // bound admin address

	log   *slog.Logger
	run   *runner
	core  *apiCore
	admin *httpServer
	db    *store.DB
	rdb   *redis.Client
	pools *bulkhead.Set // each business's pool
	live  *liveTable    // the per-second table; live.go

	stopOnce sync.Once
	stopErr  error
}

// StartAPI starts the API with cfg. It refuses to start unless the database
// schema is in this binary's window (run `tether migrate` first); it starts
// whether Redis answers or not.
func StartAPI(ctx context.Context, cfg config.APIConfig, opts ...Option) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts, func() *slog.Logger { return cfg.Log.New(os.Stderr) })
	log := o.log
	priv, err := cfg.PrivateKey()
	if err != nil {
		return nil, err
	}
	m := metrics.New(metrics.WithLogger(log))

	// Each business gets its share of database and Redis connections: the
	// pools are sized to the sum of the bulkheads' workers (internal/bulkhead).
	pools := cfg.Bulkheads.Set()
	db, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: cfg.MySQLDSN, MaxOpenConns: pools.Conns()}, m)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, startupTimeout)
	err = db.CheckSchema(cctx)
	cancel()
	if err != nil {
		closeQuietly(db)
		return nil, fmt.Errorf("database schema is outside this binary's window: %w", err)
	}
	ropt := cfg.Redis.Options()
	ropt.PoolSize = max(ropt.PoolSize, pools.Conns(), 10*runtime.GOMAXPROCS(0))
	// Redis is a weak dependency of the API (health.go): an API restarted
	// during a Redis outage starts, serves chat and reports Redis down.
	rdb := redis.NewClient(ropt)
	m.InstrumentRedis(rdb)
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Warn("redis does not answer; starting without it (pushes, limits and the relay wait for it)", "addr", ropt.Addr, "err", err)
	}
	cancel()

	a := &API{log: log, run: newRunner(log), db: db, rdb: rdb, pools: pools}
	a.core, err = startAPICore(apiParts{
		db:         db,
		rdb:        rdb,
		reg:        route.NewRegistry(rdb, cfg.Redis.Prefix, registryTTL),
		signer:     token.NewSigner(priv, cfg.AccessTTL),
		refreshTTL: cfg.RefreshTTL,
		pushAPI:    cfg.PushAPI,
		throttle:   cfg.Throttle,
		relay:      relay.Config{BatchSize: cfg.RelayBatch, PollInterval: cfg.RelayPoll},
		streamLen:  int64(cfg.RelayStreamLen),
		webhook:    cfg.Webhook,
		bulkheads:  pools,
		httpAddr:   cfg.HTTPAddr,
		m:          m,
		log:        log,
		switches:   newAPISwitches(ctx, db, rdb, cfg.Redis.Prefix, m), // switches.go

		recallWindow: cfg.RecallWindow,
	}, a.run)
	if err != nil {
		a.run.wait()
		closeQuietly(rdb)
		closeQuietly(db)
		return nil, err
	}
	a.live = startLive(a.run, m, rdb, cfg.Redis.Prefix, apiProcessID(), live.RoleAPI, log)
	a.admin, err = listenHTTP("admin", cfg.AdminAddr, withOps(adminHandler(m, a.core.health.set, a.core.health.checks(), a.live, log), a.core.ops, "api", a.live), log)
	if err != nil {
		a.live.stop()
		_ = a.core.stop(context.Background())
		a.run.wait()
		closeQuietly(rdb)
		closeQuietly(db)
		return nil, err
	}
	a.admin.serve(a.run)
	a.HTTPAddr, a.AdminAddr = a.core.http.addr(), a.admin.addr()
	log.Info("api started", "http", a.HTTPAddr, "admin", a.AdminAddr)
	return a, nil
}

// Err delivers the first unexpected failure of a background component; the
// API is then no longer whole and should be stopped.
func (a *API) Err() <-chan error { return a.run.fatal }

// Stop stops accepting requests, lets in-flight ones finish until ctx ends,
// stops the relay (rows it did not move stay in the outbox for the next
// start), and closes Redis and the database. It is safe to call twice.
func (a *API) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		errs := []error{a.core.stop(ctx), a.admin.shutdown(ctx)}
		a.live.stop()
		a.run.wait()
		errs = append(errs, a.rdb.Close(), a.db.Close())
		a.stopErr = errors.Join(errs...)
		a.log.Info("api stopped")
	})
	return a.stopErr
}

// apiParts are what the REST server and relay are built from, shared by
// StartAPI (MySQL, real Redis) and StartDev (SQLite, in-process Redis).
type apiParts struct {
	db         *store.DB
	rdb        redis.UniversalClient
	reg        *route.Registry
	signer     *token.Signer
	refreshTTL time.Duration
	pushAPI    config.PushAPI  // push API for third-party services
	throttle   config.Throttle // limits on logins, registrations and sends
	relay      relay.Config
	streamLen  int64          // approximate MAXLEN of each node's job stream
	webhook    config.Webhook // offline notifications; off when its URL is empty
	bulkheads  *bulkhead.Set  // each business's pool (internal/bulkhead)
	httpAddr   string
	m          *metrics.Metrics
	log        *slog.Logger
	switches   apiSwitches // live switches (switches.go)

	recallWindow time.Duration // how long after sending a message its sender may recall it
}

// apiCore is the REST server and relay running on a runner.
type apiCore struct {
	http      *httpServer
	ops       ops.Deps // what the ops page on the admin address is built from; ops.go
	switches  apiSwitches
	health    *apiHealth // the dependencies and readiness; health.go
	stopRelay context.CancelFunc
	relayDone chan struct{}
	// The webhook worker, when on; stopped after the relay, which queues its work.
	stopWebhook context.CancelFunc
	webhookDone chan struct{}
}

func startAPICore(p apiParts, run *runner) (*apiCore, error) {
	p.m.Register(p.bulkheads)
	p.relay.Pool = p.bulkheads.Pool(bulkhead.Relay)
	// Degradation: group entries above the switch's member count are not pushed live.
	p.relay.FanoutLimit = func() int64 { return p.switches.svc.Registry.Int(switches.GroupFanoutLimit) }
	var hook *webhook.Worker
	if p.webhook.Enabled() {
		var err error
		hook, err = webhook.New(webhook.Config{
			URL: p.webhook.URL, Secret: p.webhook.Secret, MaxAttempts: p.webhook.MaxAttempts, Timeout: p.webhook.Timeout,
			Pool: p.bulkheads.Pool(bulkhead.Webhook),
			// Degradation: the webhook switch pauses deliveries (api/webhook).
			On: func() bool { return p.switches.svc.Registry.Enabled(switches.Webhook, switches.Subject{}) },
		}, p.db, p.m, p.log)
		if err != nil {
			return nil, err
		}
		p.relay.NotifyOffline, p.relay.Notified = true, hook.Kick
	}
	streams := stream.NewRedis(p.rdb, p.reg.Keys().Prefix, stream.Caps{Node: p.streamLen})
	rel := relay.New(p.relay, p.db, p.reg, streams, p.m, p.log)
	revoker := route.NewRevoker(p.reg, streams, p.signer.TTL())
	// Blocks, copied to Redis for push nodes to refuse blocked users' signals.
	blocks := blockmirror.New(p.rdb, p.reg.Keys().Prefix)
	// The push API for third-party services (api/pushapi).
	pushBackend := pushapi.NewRedisBackend(p.rdb, p.reg, streams)
	push := pushapi.New(pushapi.Config{
		AdminKey: p.pushAPI.AdminKey, DefaultRateLimit: p.pushAPI.RateLimit,
	}, store.NewAPIKeyService(p.db), pushapi.StorePersister(store.NewPushService(p.db)), pushBackend, pushBackend, p.m, p.log)
	health := newAPIHealth(p.db, p.rdb, p.m) // health.go
	auth := store.NewAuthService(p.db, p.signer, p.refreshTTL, revoker)
	exempt, err := p.throttle.ExemptPrefixes()
	if err != nil {
		return nil, err
	}
	proxies, err := p.throttle.TrustedProxyPrefixes()
	if err != nil {
		return nil, err
	}
	limits := throttle.New(throttle.Config{
		LoginPerUser: p.throttle.LoginPerUser, LoginPerIP: p.throttle.LoginPerIP, RegisterPerIP: p.throttle.RegisterPerIP,
		SendRate: p.throttle.SendRate, SendBurst: p.throttle.SendBurst, Exempt: exempt,
	}, p.rdb, p.reg.Keys().Prefix, p.m, p.log)
	srv, err := rest.New(rest.Deps{
		Auth:     initVersionOnRegister{auth, p.reg, p.log}, // newuser.go
		Messages: store.NewMessageService(p.db, rel.Kick, store.WithRecallWindow(p.recallWindow)),
		Profiles: store.NewProfileService(p.db),
		Social:   store.NewSocialService(p.db, store.WithBlockMirror(blocks)),
		Groups:   store.NewGroupService(p.db, rel.Kick),
		Presence: store.NewPresenceService(p.db, p.reg),
		// Where clients open push connections (api/discovery).
		Discovery: discovery.New(p.reg),
		Verifier:  token.NewVerifier(p.signer.Public()),
		Sessions:  store.NewSessionService(p.db, revoker, revoker, p.refreshTTL),
		APIKeys:   push,
		Push:      push,
		Metrics:   p.m,
		Log:       p.log,
		// Tokens of revoked sessions stop working at once, not at expiry.
		Revocations: p.reg,
		// Logins, registrations and sends are rate limited (api/throttle).
		Throttle: limits, TrustedProxies: proxies,
		// Each route runs in its business's pool (api/rest/bulkhead.go).
		Bulkheads: p.bulkheads,
		// Readiness is what chat needs, not Redis; health.go.
		Ready: health.ready,

		// Read receipts follow the reader's request: user, platform and
		// app version, which api/rest puts on the context.
		Conversations: store.NewConversationService(p.db, rel.Kick, store.WithReadReceipts(func(ctx context.Context, reader int64) bool {
			return p.switches.svc.Registry.Enabled(switches.ReadReceipts, switches.SubjectFrom(ctx, reader))
		})),
		Switches: p.switches.svc,
	})
	if err != nil {
		return nil, err
	}
	hs, err := listenHTTP("http", p.httpAddr, srv.Handler(), p.log)
	if err != nil {
		return nil, err
	}
	relayCtx, stopRelay := context.WithCancel(context.Background())
	c := &apiCore{http: hs, health: health, switches: p.switches, stopRelay: stopRelay, relayDone: make(chan struct{})}
	c.ops = ops.Deps{Keys: push, Users: auth, Switches: p.switches.svc, Registry: p.reg, Streams: streams, Log: p.log}
	run.goFunc("switches", func() error { p.switches.follow.Run(relayCtx); return nil })
	// The relay's context also owns the block mirror's keeper and the
	// dependency probes.
	run.goFunc("dependency probes", func() error { health.run(relayCtx); return nil })
	run.goFunc("blockmirror", func() error {
		blocks.Keep(relayCtx, p.db, blockmirror.KeepInterval, p.log)
		return nil
	})
	run.goFunc("relay", func() error {
		defer close(c.relayDone)
		if err := rel.Run(relayCtx); err != nil && relayCtx.Err() == nil {
			return err
		}
		return nil
	})
	if hook != nil {
		hookCtx, stopHook := context.WithCancel(context.Background())
		c.stopWebhook, c.webhookDone = stopHook, make(chan struct{})
		run.goFunc("webhook", func() error {
			defer close(c.webhookDone)
			return hook.Run(hookCtx)
		})
	}
	hs.serve(run)
	return c, nil
}

// stop drains HTTP first, so no send commits after the relay has stopped
// looking, then stops the relay and waits for its current batch.
func (c *apiCore) stop(ctx context.Context) error {
	err := c.http.shutdown(ctx)
	c.stopRelay()
	<-c.relayDone
	if c.stopWebhook != nil {
		// Requests in flight finish (each within the webhook timeout).
		c.stopWebhook()
		<-c.webhookDone
	}
	return err
}
