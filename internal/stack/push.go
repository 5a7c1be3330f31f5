package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push"
	"github.com/tetherim/tether/shared/dephealth"
	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/switches"
	"github.com/tetherim/tether/shared/token"
)

// Push is a running `tether push`: one push node and its admin server.
type Push struct {
	PushAddr  string // bound client TCP address
	WSAddr    string // bound client WebSocket address; empty without one
	AdminAddr string // bound admin address
	NodeID    string

	log   *slog.Logger
	run   *runner
	node  *push.Node
	admin *httpServer
	rdb   *redis.Client
	live  *liveTable // the per-second table; live.go

	switches     *switches.Registry
	stopSwitches context.CancelFunc // ends the switches' follower

	ops       *opsRequests  // operators' drain and hot-restart requests; control.go
	drainedCh chan struct{} // closed once an operator's drain has stopped the node

	stopOnce sync.Once
	stopErr  error
}

// StartPush starts a push node with cfg. It refuses to start unless Redis answers.
func StartPush(ctx context.Context, cfg config.PushConfig, opts ...Option) (*Push, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts, func() *slog.Logger { return cfg.Log.New(os.Stderr) })
	log := o.log
	pub, err := cfg.PublicKey()
	if err != nil {
		return nil, err
	}
	m := metrics.New(metrics.WithLogger(log.With("node", cfg.NodeID)))
	rdb, err := openRedis(ctx, cfg.Redis.Options(), m)
	if err != nil {
		return nil, err
	}
	sw := newPushSwitches(ctx, cfg, rdb, m) // switches.go
	deps := dephealth.NewSet()
	redisHealth := deps.Add("redis", dephealth.RedisRefused)
	m.Register(deps.Collector())
	ops := newOpsRequests()
	node, err := startNode(ctx, cfg, rdb, token.NewVerifier(pub), m, log, hotRestart(cfg, o.takeover), sw.Registry, redisHealth, ops.control)
	if err != nil {
		closeQuietly(rdb)
		return nil, err
	}
	p := &Push{NodeID: cfg.NodeID, log: log, run: newRunner(log), node: node, rdb: rdb, switches: sw.Registry, ops: ops, drainedCh: make(chan struct{})}
	p.run.goFunc("operator requests", func() error { p.serveOps(cfg.DrainWindow + cfg.ShutdownTimeout); return nil }) // control.go
	swCtx, stopSwitches := context.WithCancel(context.Background())
	p.stopSwitches = stopSwitches
	p.run.goFunc("switches", func() error { sw.Run(swCtx); return nil })
	// Readiness follows the drain and the node's real use of Redis, not a
	// PING. A Redis that answers but refuses the work (a cluster node
	// answering MOVED, a replica, a wrong password) makes the node unready:
	// it could deliver nothing. An outage after the node has worked does
	// not: the node keeps serving its clients through it, and a node that
	// reported unready then would drop out of the headless Service's DNS
	// just when clients need somewhere to reconnect.
	p.live = startLive(p.run, m, rdb, cfg.Redis.Prefix, cfg.NodeID, live.RolePush, log)
	p.admin, err = listenAdmin(node, cfg.AdminAddr, adminHandler(m, deps, []check{
		{"accepting", func(context.Context) error {
			if node.Draining() {
				return errors.New("node draining")
			}
			return nil
		}},
		{"redis usable", func(context.Context) error { return redisHealth.Usable() }},
	}, p.live, log), log)
	if err != nil {
		p.stopSwitches()
		p.live.stop()
		p.run.wait()
		_ = node.Stop(context.Background())
		closeQuietly(rdb)
		return nil, err
	}
	p.admin.serve(p.run)
	p.PushAddr, p.AdminAddr = node.TCPAddr().String(), p.admin.addr()
	if a := node.WSAddr(); a != nil {
		p.WSAddr = a.String()
	}
	log.Info("push started", "node", cfg.NodeID, "tcp", p.PushAddr, "ws", p.WSAddr, "admin", p.AdminAddr)
	return p, nil
}

// startNode builds and starts a push node on rdb.
func startNode(ctx context.Context, cfg config.PushConfig, rdb redis.UniversalClient, v *token.Verifier, m *metrics.Metrics, log *slog.Logger, hot hotRestartConfig, sw *switches.Registry, redisHealth *dephealth.Dep, control push.ControlFunc) (*push.Node, error) {
	exempt, err := cfg.ConnLimitExemptPrefixes()
	if err != nil {
		return nil, fmt.Errorf("push node: --conn-limit-exempt: %w", err)
	}
	node, err := push.New(push.Config{
		NodeID:            cfg.NodeID,
		TCPAddr:           cfg.TCPAddr,
		AdvertiseTCP:      cfg.AdvertiseTCP,
		AdvertiseWS:       cfg.AdvertiseWS,
		HeartbeatInterval: cfg.HeartbeatInterval,
		IdleTimeout:       cfg.IdleTimeout,
		HandshakeTimeout:  cfg.HandshakeTimeout,
		MaxPayload:        cfg.MaxPayload,
		NodeTTL:           cfg.NodeTTL,
		AckFlushInterval:  cfg.AckFlushInterval,
		StreamBatch:       cfg.StreamBatch,
		WSAddr:            cfg.WSAddr,
		WSOrigins:         cfg.Origins(),
		DrainWindow:       cfg.DrainWindow,
		DrainRate:         cfg.DrainRate,
		SessionPolicy:     push.Policy(cfg.SessionPolicy),
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		MaxConnsPerUser:   cfg.MaxConnsPerUser,
		ConnLimitExempt:   exempt,
		SignalRate:        float64(cfg.SignalRate),
		SignalBurst:       cfg.SignalBurst,
		BroadcastMaxAge:   cfg.BroadcastMaxAge,
		UpgradeSocket:     hot.socket,
		Takeover:          hot.takeover,
		UpgradeTimeout:    hot.timeout,
	}, push.Deps{
		Redis:    rdb,
		Registry: route.NewRegistry(rdb, cfg.Redis.Prefix, cfg.NodeTTL),
		Verifier: v,
		Metrics:  m,
		Log:      log,
		Switches: sw,

		RedisHealth: redisHealth,
		Control:     control,
	})
	if err != nil {
		return nil, err
	}
	if err := node.Start(ctx); err != nil {
		return nil, fmt.Errorf("push node: %w", err)
	}
	return node, nil
}

// Err delivers the first unexpected failure of a background component.
func (p *Push) Err() <-chan error { return p.run.fatal }

// Sessions is the number of live sessions on the node.
func (p *Push) Sessions() int { return p.node.Sessions() }

// Stop drains the node (push.Node.Drain: it leaves the registry, tells its
// clients to reconnect elsewhere, spread over the drain window, and closes
// the rest), then closes the admin server and Redis. ctx bounds it all.
// It is safe to call twice.
func (p *Push) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.stopSwitches()
		p.ops.close()
		p.live.stop()
		if p.handedOver() { // hot restart: release, the new process serves; hotrestart.go
			p.stopErr = p.release(ctx)
			return
		}
		errs := []error{p.node.Drain(ctx, 0), p.admin.shutdown(ctx)}
		p.run.wait()
		errs = append(errs, p.rdb.Close())
		p.stopErr = errors.Join(errs...)
		p.log.Info("push stopped", "node", p.NodeID)
	})
	return p.stopErr
}
