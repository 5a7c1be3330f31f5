// Package push is Tether's long-connection server: it accepts client TCP
// connections speaking the push/wire protocol, authenticates them locally
// with an access token, keeps them alive with heartbeats, records their
// cumulative acks, and delivers the jobs the API's relay writes to this
// node's Redis stream. push/PROTOCOL.md describes the protocol for clients.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/dephealth"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/switches"
	"github.com/tetherim/tether/shared/token"
)

// Config configures a Node. Zero durations and sizes take their defaults.
type Config struct {
	NodeID       string // unique per node; required
	TCPAddr      string // listen address, e.g. "127.0.0.1:7070" (":0" in tests)
	AdvertiseTCP string // address clients should dial; defaults to the bound address
	// AdvertiseWS is the WebSocket URL clients should open, e.g.
	// "wss://push-1.example.com/ws"; default: ws://<bound address>/ws when
	// WSAddr is set. Both are recorded in the registry for discovery.
	AdvertiseWS       string
	HeartbeatInterval time.Duration // told to clients in Welcome (default 30s)
	IdleTimeout       time.Duration // close a connection with nothing received for this long (default 2.5 x heartbeat)
	HandshakeTimeout  time.Duration // close if no valid Hello within this (default 10s)
	MaxPayload        int           // hard frame payload limit (default wire.DefaultMaxPayload)
	NodeTTL           time.Duration // registry heartbeat TTL (default 15s; refreshed every TTL/3)
	AckFlushInterval  time.Duration // batch acks to Redis at most this often (default 250ms)
	StreamBatch       int           // XREADGROUP COUNT (default 256)

	// MaxQueued bounds the bytes waiting to be written to one connection;
	// a connection over it is closed with CodeSlowConsumer (default 1 MiB).
	MaxQueued int
	// WriteTimeout closes a connection whose socket accepts no data for this
	// long while output is waiting (default 10s).
	WriteTimeout time.Duration

	// SessionPolicy decides which of a user's sessions a new login ends
	// with a Kick, on this node and on others (default PolicyPlatform: one
	// per user and platform); see policy.go.
	SessionPolicy Policy
	// MaxConnsPerIP bounds the open connections from one client address
	// (IPv6: one /64), checked at accept; 0: no limit. See limits.go.
	MaxConnsPerIP int
	// ConnLimitExempt lists addresses MaxConnsPerIP does not count, such as
	// a local proxy or load balancer that hides the clients' addresses.
	ConnLimitExempt []netip.Prefix
	// MaxConnsPerUser bounds one user's sessions on this node, checked at
	// the handshake after the policy's replacements; 0: no limit.
	MaxConnsPerUser int

	// WSAddr is the WebSocket listen address (see transport_ws.go); empty:
	// no WebSocket listener.
	WSAddr string
	// WSOrigins lists the Origin header values a WebSocket upgrade may
	// carry, e.g. "https://app.example.com"; empty: any origin.
	WSOrigins []string

	// DrainWindow is the longest Drain spreads its Reconnect frames over and
	// waits for clients to leave (default 30s); see drain.go.
	DrainWindow time.Duration
	// DrainRate caps the reconnects per second a draining node causes, so a
	// node with few clients drains quickly and one with many spreads them
	// over the whole window (default 1000).
	DrainRate int

	// SignalRate and SignalBurst are each session's signal token bucket
	// (default 10/s, burst 20); see signal.go.
	SignalRate  float64
	SignalBurst int
	// BroadcastMaxAge: a broadcast older than this (by its enqueue time) is
	// never delivered, e.g. when a restarted node catches up (default 5m).
	BroadcastMaxAge time.Duration

	// UpgradeSocket is the Unix socket path on which a new process of this
	// node takes it over in a hot restart (hotrestart.go); empty: no hot restart.
	UpgradeSocket string
	// Takeover makes Start take the listeners and connections over from the
	// node running on UpgradeSocket instead of binding (hotrestart_takeover.go).
	Takeover bool
	// UpgradeTimeout bounds one handoff (default 60s).
	UpgradeTimeout time.Duration
}

// Deps are the collaborators of a Node. Redis, Registry and Verifier are required.
type Deps struct {
	Redis    redis.UniversalClient
	Registry *route.Registry
	Streams  Streams // default: the Redis streams of Redis, under the Registry's prefix
	Verifier *token.Verifier
	Metrics  *metrics.Metrics // default: a fresh metrics.New()
	Log      *slog.Logger     // default: slog.Default()
	// Switches are the live switches the node reads per session and per
	// frame (shared/switches); default: every switch at its default.
	Switches *switches.Registry
	// RedisHealth (optional) is told the outcome of each heartbeat and
	// stream read, so readiness follows real use of Redis; see health.go.
	RedisHealth *dephealth.Dep
	// Control (optional) receives operators' requests to drain or
	// hot-restart the node; without it they are refused. See control.go.
	Control ControlFunc
}

// MaxServerPayload is the largest payload a node ever sends; jobs whose
// Message frame would exceed it are dropped and counted as errors.
const MaxServerPayload = 1 << 20

const (
	maxClientPayload = 16 << 20
	redisTimeout     = 2 * time.Second        // one registry call on a connection's path
	frameBudget      = 5 * time.Millisecond   // time budget of one client frame
	helloBudget      = 50 * time.Millisecond  // Hello includes a Redis round trip
	jobBudget        = 10 * time.Millisecond  // time budget of one stream job
	retryMin         = 100 * time.Millisecond // first backoff after a Redis error
	retryMax         = 2 * time.Second        // longest backoff after Redis errors
)

// Node is one push server. Create it with New, then Start and Stop it once.
type Node struct {
	cfg     Config
	rdb     redis.UniversalClient
	reg     *route.Registry
	streams Streams
	backlog backlogGauges     // the stream backlog gauges; backlog.go
	status  *pushstatus.Redis // the push API's delivery counts; see pushstatus.go
	verify  *token.Verifier
	m       *metrics.Metrics
	health  *dephealth.Dep // nil: not reported; see health.go
	log     *slog.Logger
	sw      *switches.Registry // live switches (shared/switches)
	control ControlFunc        // operators' requests; see control.go
	opState state              // ready, draining, hot-restarting, stopped: the published status
	hub     *hub
	acks    *ackBatch
	pending *registrar

	transient *transient             // broadcasts, transient pushes and signals; see transient.go
	failed    *prometheus.CounterVec // closes with an Error frame, by code; see closes.go

	ipLimit    *ipLimiter   // Config.MaxConnsPerIP; see limits.go
	handshakes atomic.Int64 // connections not yet past their handshake

	started  atomic.Bool
	stopping atomic.Bool
	draining atomic.Bool // Drain began: no new sessions, no heartbeats
	startNS  int64
	seq      atomic.Uint64

	ln        netpoll.Listener
	evl       netpoll.EventLoop
	serveDone chan struct{}
	ws        wsListener // the WebSocket listener, if Config.WSAddr is set
	info      route.Info

	connMu sync.Mutex
	conns  map[*conn]struct{}
	noConn *sync.Cond // signalled when conns becomes empty

	loopCancel context.CancelFunc
	loops      sync.WaitGroup // the loops of startLoops
	hbCancel   context.CancelFunc
	hbDone     chan struct{} // closed when the heartbeat loop has returned
	ackCancel  context.CancelFunc
	ackDone    chan struct{}
	tasks      sync.WaitGroup // per-connection flushers and route removals

	consumeGate chan struct{} // tests only: the consumer waits for it to close

	up upgrader // hot restart; see hotrestart.go

	deadlines sweeper // handshake and idle deadlines of every connection; see deadlines.go
}

// New validates cfg and d and returns a stopped node.
func New(cfg Config, d Deps) (*Node, error) {
	switch {
	case cfg.NodeID == "":
		return nil, errors.New("push: Config.NodeID is required")
	case cfg.TCPAddr == "":
		return nil, errors.New("push: Config.TCPAddr is required")
	case d.Redis == nil || d.Registry == nil || d.Verifier == nil:
		return nil, errors.New("push: Deps.Redis, Deps.Registry and Deps.Verifier are required")
	case cfg.HeartbeatInterval < 0 || cfg.IdleTimeout < 0 || cfg.HandshakeTimeout < 0 || cfg.NodeTTL < 0 ||
		cfg.AckFlushInterval < 0 || cfg.WriteTimeout < 0 || cfg.MaxPayload < 0 || cfg.StreamBatch < 0 || cfg.MaxQueued < 0 ||
		cfg.DrainWindow < 0 || cfg.DrainRate < 0:
		return nil, errors.New("push: durations and sizes in Config must not be negative")
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 30 * time.Second
	}
	if cfg.HeartbeatInterval/time.Millisecond > 0xffffffff {
		return nil, errors.New("push: Config.HeartbeatInterval is too long")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = cfg.HeartbeatInterval * 5 / 2
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = wire.DefaultMaxPayload
	}
	if cfg.MaxPayload > maxClientPayload {
		// Client frames are small; a bigger limit only lets clients make
		// the node buffer more.
		return nil, fmt.Errorf("push: Config.MaxPayload %d is over %d", cfg.MaxPayload, maxClientPayload)
	}
	if cfg.NodeTTL == 0 {
		cfg.NodeTTL = 15 * time.Second
	}
	if cfg.AckFlushInterval == 0 {
		cfg.AckFlushInterval = 250 * time.Millisecond
	}
	if cfg.StreamBatch == 0 {
		cfg.StreamBatch = 256
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = 1 << 20
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.DrainWindow == 0 {
		cfg.DrainWindow = defaultDrainWindow
	}
	if cfg.DrainRate == 0 {
		cfg.DrainRate = defaultDrainRate
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.Switches == nil {
		d.Switches = switches.NewRegistry(switches.Catalogue)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Streams == nil {
		d.Streams = stream.NewRedis(d.Redis, d.Registry.Keys().Prefix, stream.Caps{})
	}
	n := &Node{
		cfg:     cfg,
		rdb:     d.Redis,
		reg:     d.Registry,
		streams: d.Streams,
		status:  pushstatus.NewRedis(d.Redis, d.Registry.Keys().Prefix),
		verify:  d.Verifier,
		m:       d.Metrics,
		health:  d.RedisHealth,
		log:     d.Log.With("node", cfg.NodeID),
		sw:      d.Switches,
		control: d.Control,
		hub:     newHub(),
		acks:    newAckBatch(),
		conns:   map[*conn]struct{}{},
	}
	n.pending = newRegistrar(n)
	n.up.handedCh = make(chan struct{})
	if cfg.UpgradeTimeout <= 0 {
		cfg.UpgradeTimeout = time.Minute
		n.cfg.UpgradeTimeout = cfg.UpgradeTimeout
	}
	tr, err := newTransient(n)
	if err != nil {
		return nil, err
	}
	n.transient = tr
	if n.failed, err = newFailCounter(n); err != nil {
		return nil, err
	}
	n.noConn = sync.NewCond(&n.connMu)
	if err := n.initSessions(); err != nil { // policy, limits and session gauges; see policy.go
		return nil, err
	}
	return n, nil
}

// register adds c to m, turning Metrics.Register's duplicate panic into an error.
func register(m *metrics.Metrics, c prometheus.Collector) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if are, ok := r.(prometheus.AlreadyRegisteredError); ok {
				err = fmt.Errorf("push: metrics already hold a node with this id: %w", are)
				return
			}
			panic(r)
		}
	}()
	m.Register(c)
	return nil
}

// Start binds the listener, registers the node and starts all loops. It
// returns once the node is serving. A Redis outage does not fail Start: the
// heartbeat loop keeps trying. ctx bounds the startup only; Stop ends the node.
func (n *Node) Start(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("push: node already started")
	}
	ln, err := n.listen(ctx) // binds, or takes the listener over; see hotrestart.go
	if err != nil {
		return fmt.Errorf("push: listen %s: %w", n.cfg.TCPAddr, err)
	}
	if err := n.listenWS(); err != nil {
		_ = ln.Close()
		return err
	}
	evl, err := n.newEventLoop()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("push: event loop: %w", err)
	}
	n.ln, n.evl = ln, evl
	n.startNS = time.Now().UnixNano()
	adv := n.cfg.AdvertiseTCP
	if adv == "" {
		adv = ln.Addr().String()
	}
	n.info = route.Info{ID: n.cfg.NodeID, TCPAddr: adv, WSAddr: n.advertiseWS(), StartedAt: time.Now().Unix()}
	if n.cfg.Takeover {
		// Not handed out to clients before it holds the old process's
		// sessions (its load): ready once adoptConns is done, below.
		n.opState.set(route.StateHotRestarting)
	}

	n.serveDone = make(chan struct{})
	go func() {
		defer close(n.serveDone)
		if err := evl.Serve(ln); err != nil && !n.stopping.Load() && !n.draining.Load() {
			n.log.Error("push: serve stopped", "err", err)
		}
	}()
	n.serveWS()

	hctx, cancel := context.WithTimeout(ctx, redisTimeout)
	err = n.register(hctx)
	cancel()
	if err != nil {
		n.log.Warn("push: first heartbeat failed; retrying in the background", "err", err)
	}

	if err := n.adoptConns(); err != nil { // hot restart: before consuming; see hotrestart_takeover.go
		return err
	}
	if n.cfg.Takeover {
		n.publishState(ctx, route.StateReady) // control.go
	}
	n.startLoops(context.WithoutCancel(ctx))

	ackCtx, cancelAcks := context.WithCancel(context.WithoutCancel(ctx))
	n.ackCancel = cancelAcks
	n.ackDone = make(chan struct{})
	go func() { defer close(n.ackDone); n.ackLoop(ackCtx) }()
	n.deadlines.start(n)

	if err := n.serveUpgrades(); err != nil { // hot restart; see hotrestart.go
		n.log.Error("push: hot restart unavailable", "err", err)
	}
	n.log.Info("push: node started", "addr", ln.Addr().String(), "ws", n.WSAddr(), "advertise", adv, "advertise_ws", n.info.WSAddr)
	return nil
}

// startLoops starts the node's loops: heartbeat, stream consumer,
// registrar, broadcast reader, signal relay and backlog gauges. Start calls it, and so does
// a hot restart that failed after stopping them (recover), so the two never
// differ. n.loopCancel stops them all, n.hbCancel the heartbeat alone
// (drain.go); n.loops waits for them.
func (n *Node) startLoops(parent context.Context) {
	loopCtx, cancelLoops := context.WithCancel(parent)
	n.loopCancel = cancelLoops
	hbCtx, cancelHB := context.WithCancel(loopCtx)
	n.hbCancel, n.hbDone = cancelHB, make(chan struct{})
	n.loops.Add(6)
	go func() { defer n.loops.Done(); defer close(n.hbDone); n.heartbeatLoop(hbCtx) }()
	go func() { defer n.loops.Done(); n.consume(loopCtx) }()
	go func() { defer n.loops.Done(); n.pending.run(loopCtx) }()
	go func() { defer n.loops.Done(); n.broadcastLoop(loopCtx) }()
	go func() { defer n.loops.Done(); n.signalLoop(loopCtx) }()
	go func() { defer n.loops.Done(); n.backlogLoop(loopCtx) }() // backlog.go
}

// TCPAddr returns the bound listen address; nil before Start.
func (n *Node) TCPAddr() net.Addr {
	if n.ln == nil {
		return nil
	}
	return n.ln.Addr()
}

// Sessions returns the number of live authenticated sessions.
func (n *Node) Sessions() int { return n.hub.count() }

// Stop stops accepting, sends Close(CodeShuttingDown) to every client,
// deregisters the node, stops the loops and waits for its goroutines. Jobs
// not yet read stay in the node's stream for its next start. If ctx ends
// first, the remaining connections are closed without waiting.
func (n *Node) Stop(ctx context.Context) error {
	if !n.started.Load() {
		return errors.New("push: node not started")
	}
	// Stop closes or hands over every connection itself; no deadline
	// check may race that.
	n.deadlines.stop()
	if n.up.retired.Load() {
		return nil // handed over to a new process, which owns everything now
	}
	n.closeUpgrades() // waits for a handoff under way
	if n.up.retired.Load() {
		return nil
	}
	if !n.stopping.CompareAndSwap(false, true) {
		return errors.New("push: node already stopped")
	}
	defer n.stopAdoption()
	// The loops go first so that no job is read for clients about to leave,
	// and no heartbeat re-registers the node after Deregister.
	n.loopCancel()
	n.loops.Wait()

	for _, c := range n.snapshotConns() {
		c.closeWith(wire.TypeClose, wire.CodeShuttingDown, "node shutting down")
	}
	drained := n.waitConns(ctx)
	if !drained {
		for _, c := range n.snapshotConns() {
			c.closeNow()
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	shutdownLoop(sctx, n.evl, n.serveDone)
	n.stopWS(sctx)
	cancel()

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	derr := n.reg.Deregister(dctx, n.cfg.NodeID)
	cancel()
	if derr != nil {
		n.log.Warn("push: deregister failed; the node key expires with its TTL", "err", derr)
	}
	n.publishState(ctx, route.StateStopped) // control.go
	n.leaveBroadcast(ctx)

	n.waitConns(context.Background())
	n.tasks.Wait()
	n.ackCancel()
	<-n.ackDone
	n.log.Info("push: node stopped", "drained", drained)
	if !drained {
		return fmt.Errorf("push: stop: %w", ctx.Err())
	}
	return nil
}

func (n *Node) snapshotConns() []*conn {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	out := make([]*conn, 0, len(n.conns))
	for c := range n.conns {
		out = append(out, c)
	}
	return out
}

// waitConns waits until every connection has closed or ctx ends.
func (n *Node) waitConns(ctx context.Context) bool {
	stop := context.AfterFunc(ctx, func() {
		n.connMu.Lock()
		n.noConn.Broadcast()
		n.connMu.Unlock()
	})
	defer stop()
	n.connMu.Lock()
	defer n.connMu.Unlock()
	for len(n.conns) > 0 {
		if ctx.Err() != nil {
			return false
		}
		n.noConn.Wait()
	}
	return true
}

// spawn runs f in a goroutine that Stop waits for.
func (n *Node) spawn(f func()) {
	n.tasks.Add(1)
	go func() {
		defer n.tasks.Done()
		f()
	}()
}

// heartbeatLoop keeps the node's registry key alive every NodeTTL/3.
func (n *Node) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.NodeTTL / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, redisTimeout)
		lost, err := n.heartbeat(hctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			n.log.Warn("push: heartbeat failed", "err", err)
		case err == nil && (failing || lost):
			failing = false
			n.reregister(lost)
		}
	}
}

// backoff returns the next retry delay after d.
func backoff(d time.Duration) time.Duration {
	if d < retryMin {
		return retryMin
	}
	if d *= 2; d > retryMax {
		d = retryMax
	}
	return d
}

// sleep waits d or until ctx ends, reporting whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
