package push

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// Connection states. A connection moves from handshake to open once; closing
// is tracked separately because it can start in either state.
const (
	stateHandshake int32 = iota
	stateOpen
)

// maxSpare is the largest write buffer kept for reuse (memory.go), so that
// a burst does not pin memory once it is over.
const maxSpare = 64 << 10

type connKey struct{}

// conn is one client connection and, after the handshake, its session.
type conn struct {
	n        *Node
	nc       netpoll.Connection
	id       string // route.ConnID: unique across the node's restarts
	seq      uint64 // accept order in this process (0: adopted from a hot restart); hub.admit
	remote   string
	ws       *wsConn // WebSocket state; nil for raw TCP
	state    atomic.Int32
	lastSeen atomic.Int64 // unix nanoseconds of the accept, then of the last whole frame; deadlines.go

	// Set by the handshake before the conn enters the hub, read-only after.
	uid  int64
	sess route.Session

	app       unique.Handle[string] // Hello's app version, interned: most sessions share a few; for logs
	proto     uint8                 // the protocol version the Welcome granted (heartbeat.go)
	openedMS  int64                 // unix ms when the session opened; a kick job spares newer ones (kick.go)
	ipCounted bool                  // counted by the per-IP limit until the conn closes (limits.go)

	sig signalBucket // signal rate limit, used by the frame handler only; see signal.go

	wmu     sync.Mutex // held while the netpoll Writer is in use; see write
	wclosed bool       // set under wmu once netpoll is closing the connection

	mu         sync.Mutex
	buf        []byte // frames queued for the next write
	keep       int    // bytes at buf's front that finish a frame partly written: never dropped (conn_write.go)
	hold       bool   // buf is not written until Welcome is queued in front of it
	flushing   bool   // a flushLoop owns the netpoll writer
	closing    bool   // no more frames are queued; the conn closes once buf is written
	gone       bool   // the netpoll connection has closed
	registered bool   // the route is in Redis and must be removed on close
	moved      bool   // handed to a new process by a hot restart: keep the route (hotrestart_handover.go)
	polled     bool   // netpoll has registered the connection with its poller: writers may start (onConnect)

	in *carryReader // input carried over by a hot restart, read first; onRequest only (hotrestart_carry.go)
}

// onPrepare sets up a new connection before it is registered with the poller.
func (n *Node) onPrepare(nc netpoll.Connection) context.Context {
	if ctx, ok := n.adopted(nc); ok { // a socket handed over by a hot restart; see hotrestart_adopt.go
		return ctx
	}
	c := &conn{n: n, nc: nc, hold: true, ws: n.wsFor(nc)}
	c.seq = n.seq.Add(1)
	c.id = route.ConnID(n.startNS, c.seq)
	if a := nc.RemoteAddr(); a != nil {
		c.remote = a.String()
	}
	c.lastSeen.Store(time.Now().UnixNano())
	_ = nc.SetReadTimeout(n.cfg.HandshakeTimeout)
	c.auditOwn() // tests: the descriptor is c's until onClosed; see fdaudit.go
	n.connMu.Lock()
	n.conns[c] = struct{}{}
	n.connMu.Unlock()
	_ = nc.AddCloseCallback(func(netpoll.Connection) error {
		c.onClosed()
		return nil
	})
	n.accepted(c) // per-IP limit, handshake gauge; see limits.go
	if n.closingDown() {
		c.closeWith(wire.TypeClose, wire.CodeShuttingDown, "node shutting down")
	}
	return c.context() // the conn itself; see memory.go
}

// onConnect runs once netpoll has registered the connection with its
// poller, and only from then on may a writer start, since a writer may
// close the connection. netpoll's Close frees the connection's poller entry
// and closes its descriptor at once; a Close racing the registration (a
// refusal in onPrepare, whose writer ran on its own goroutine) let netpoll
// register a descriptor number that was already closed, or reused by
// another socket, with a freed entry: that socket's events then drove, and
// its hangup closed, whichever connection got the entry next (the churn
// drill's resets; the race detector reports it on FDOperator.FD). So
// output queued before now, such as a refusal, is written from here.
func (n *Node) onConnect(ctx context.Context, _ netpoll.Connection) context.Context {
	c, _ := ctx.Value(connKey{}).(*conn)
	if c == nil {
		return ctx
	}
	c.mu.Lock()
	c.polled = true
	c.mu.Unlock()
	c.kick()
	return ctx
}

// onRequest reads every whole frame available. netpoll runs it on one
// goroutine per connection at a time and calls it again while input remains,
// so it must consume all input or close the connection.
func (n *Node) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, _ := ctx.Value(connKey{}).(*conn)
	if c == nil {
		return nc.Close()
	}
	r := c.reader() // nc.Reader(), after bytes a hot restart carried over
	if c.ws != nil {
		return c.onWSRequest(r)
	}
	for r.Len() > 0 {
		if c.isClosing() {
			// Whatever the client sends after an error is ignored.
			_ = r.Skip(r.Len())
			_ = r.Release()
			return nil
		}
		hdr, err := r.Peek(wire.HeaderSize)
		if err != nil {
			c.readFailed(err)
			return nil
		}
		// The size is checked from the header alone, so an oversized frame
		// is refused before any of its payload is buffered.
		t, size, err := wire.ParseHeader(hdr, n.cfg.MaxPayload)
		if code, ok := c.admit(t); !ok {
			n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(errors.New(code.String())), 0)
			c.fail(code, "frame "+t.String()+" not allowed here")
			continue
		}
		if err != nil {
			n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(err), 0)
			c.fail(wire.CodeOf(err), err.Error())
			continue
		}
		b, err := r.Next(wire.HeaderSize + size)
		if err != nil {
			c.readFailed(err)
			return nil
		}
		c.lastSeen.Store(time.Now().UnixNano())
		budget := frameBudget
		if t == wire.TypeHello {
			budget = helloBudget
		}
		done := n.m.Begin(metrics.LayerPush, t.String(), budget, c.ids()...)
		done(metrics.ClientError(c.handle(t, b[wire.HeaderSize:]))) // see handle
		_ = r.Release()
	}
	return nil
}

// admit says whether a frame of type t may arrive now, and if not, the code to fail with.
func (c *conn) admit(t wire.Type) (wire.Code, bool) {
	switch {
	case t < wire.TypeHello || t > wire.TypeHeartbeat:
		return wire.CodeBadFrame, false
	case c.state.Load() == stateHandshake:
		if t != wire.TypeHello {
			return wire.CodeUnexpectedFrame, false
		}
	case t == wire.TypeHeartbeat:
		if c.proto < wire.VersionHeartbeatAcks {
			return wire.CodeUnexpectedFrame, false // a version 1 session: not its frame
		}
	case t != wire.TypePing && t != wire.TypeAck && t != wire.TypeClose && t != wire.TypeSignal && t != wire.TypePushAck:
		return wire.CodeUnexpectedFrame, false
	}
	return 0, true
}

// readFailed handles a blocking read that ended without a whole frame.
func (c *conn) readFailed(err error) {
	if errors.Is(err, errNeedMore) {
		return // carried-over input ends mid-frame; the rest comes from the socket (hotrestart_carry.go)
	}
	if !errors.Is(err, netpoll.ErrReadTimeout) {
		_ = c.nc.Close() // the peer is gone or the conn is already closing
		return
	}
	if c.state.Load() == stateHandshake {
		c.fail(wire.CodeHandshakeTimeout, "no hello in time")
	} else {
		c.fail(wire.CodeIdleTimeout, "partial frame not completed in time")
	}
}

// handle acts on one admitted frame.
//
// Every error it returns is the client's (a bad frame, token or rate, a
// superseded session, a node shutting down): trouble with Redis is handled
// inside (a weak dependency) and not returned.
func (c *conn) handle(t wire.Type, p []byte) error {
	f, err := wire.DecodePayload(t, p)
	if err != nil {
		c.fail(wire.CodeOf(err), err.Error())
		return err
	}
	switch t {
	case wire.TypeHello:
		return c.hello(f.Hello)
	case wire.TypePing:
		var a [wire.HeaderSize + 8]byte
		if c.enqueue(wire.AppendPong(a[:0], f.Ping)) {
			c.flushNow()
		}
	case wire.TypeAck:
		c.n.acks.record(c.uid, c.sess.DeviceID, f.Ack)
	case wire.TypeSignal:
		return c.signal(f.Signal)
	case wire.TypePushAck:
		c.n.transient.counts.add(f.PushAck, pushstatus.Acknowledged, 1) // pushstatus.go
	case wire.TypeHeartbeat:
		c.heartbeat(f.Heartbeat) // heartbeat.go
	case wire.TypeClose:
		c.n.log.Debug("push: client closed", "conn", c.id, "code", f.Reason.Code.String())
		c.closeWith(wire.TypeClose, wire.CodeNormal, "")
	}
	return nil
}

var (
	errVersion  = errors.New("push: unsupported protocol version")
	errStopping = errors.New("push: node shutting down")
	errRevoked  = errors.New("push: login session revoked")
)

// hello authenticates the connection locally and opens its session.
func (c *conn) hello(h wire.Hello) error {
	n := c.n
	if h.Version < 1 {
		c.fail(wire.CodeUnsupportedVersion, "protocol version must be at least 1")
		return errVersion
	}
	claims, err := n.verify.Verify(h.Token)
	if err != nil {
		if errors.Is(err, token.ErrExpired) {
			c.fail(wire.CodeTokenExpired, "token expired")
		} else {
			c.fail(wire.CodeUnauthorized, "invalid token")
		}
		return err
	}
	if n.sessionRevokedBatched(claims.SessionID, claims.UserID) { // handshakes.go
		c.fail(wire.CodeRevoked, "login session revoked")
		return errRevoked
	}
	if n.closingDown() {
		c.closeWith(wire.TypeClose, wire.CodeShuttingDown, "node shutting down")
		return errStopping
	}
	c.uid = claims.UserID
	c.sess = route.Session{DeviceID: claims.DeviceID, NodeID: n.cfg.NodeID, Platform: claims.Platform, ConnID: c.id}
	c.app = unique.Make(h.AppVersion)
	if h.AppVersion == "" { // a client that sends none in Hello may have declared one at login
		c.app = unique.Make(claims.AppVersion)
	}
	if !c.state.CompareAndSwap(stateHandshake, stateOpen) {
		return nil
	}
	// The session joins the hub before its route is written, so a job
	// routed here as soon as the route exists finds it; hold keeps those
	// messages behind the Welcome. enter applies the multi-device policy
	// and the per-user limit (kick.go).
	if err := n.enter(c, h); err != nil {
		return err
	}
	_ = c.nc.SetReadTimeout(n.cfg.IdleTimeout)

	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	cur, known, err := c.register(ctx)
	cancel()
	// The version key in Redis caches the timeline's newest version: a
	// miss costs the client a sync.
	n.m.CacheLookup(metrics.CacheVersion, err == nil && known)
	var flags uint8
	if err != nil {
		// Tokens are local, so Redis is a weak dependency: accept, tell the
		// client to sync, and write the route once Redis is back.
		flags = wire.FlagVersionUnknown
		n.pending.add(c, h.LastVersion)
		n.log.Warn("push: route not registered; retrying", "uid", c.uid, "conn", c.id, "err", err)
	} else if !known {
		flags = wire.FlagVersionUnknown
	}
	ver := c.negotiate(h.Version) // heartbeat.go
	welcome := wire.AppendWelcome(nil, wire.Welcome{
		Version:        ver,
		Flags:          flags,
		CurrentVersion: cur,
		HeartbeatMS:    uint32(n.cfg.HeartbeatInterval / time.Millisecond),
		MaxPayload:     uint32(n.cfg.MaxPayload),
		SessionID:      c.id,
	})
	c.mu.Lock()
	if !c.closing {
		c.buf = append(welcome, c.buf...)
		c.hold = false
	}
	c.mu.Unlock()
	c.flushNow()
	n.log.Info("push: session open", "uid", c.uid, "device", c.sess.DeviceID, "platform", c.sess.Platform,
		"conn", c.id, "remote", c.remote, "client_version", h.Version, "last_version", h.LastVersion,
		"current_version", cur, "flags", flags, "app", h.AppVersion)
	return nil
}

// register writes the session's route. If the connection closed meanwhile,
// the route is removed again: exactly one of register and onClosed sees both
// flags set, so the route never outlives the connection. Otherwise the
// sessions the route shows on other nodes are kicked if the policy says so.
// The claim goes in a batch with other handshakes' (handshakes.go), which
// is bounded by redisTimeout as the callers' ctx is; ctx itself is unused.
func (c *conn) register(_ context.Context) (uint64, bool, error) {
	v, ok, prev, err := c.n.claim(c) // batched with other handshakes' claims; handshakes.go
	if err != nil {
		return 0, false, err
	}
	c.mu.Lock()
	c.registered = true
	gone := c.gone
	c.mu.Unlock()
	if gone {
		c.n.spawn(c.unregister)
	} else {
		c.n.kickElsewhere(c, prev)
	}
	return v, ok, nil
}

// unregister removes the session's route unless a newer connection replaced it.
func (c *conn) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := c.n.reg.RemoveSession(ctx, c.uid, c.sess); err != nil {
		// The route names this node; relays drop it once the node's key
		// expires, and the device's next connection overwrites it.
		c.n.log.Warn("push: route not removed", "uid", c.uid, "conn", c.id, "err", err)
	}
}

// onClosed runs once when the netpoll connection closes, possibly on the
// poller goroutine, so Redis work is handed to a task.
func (c *conn) onClosed() {
	n := c.n
	c.wmu.Lock()
	c.wclosed = true
	c.wmu.Unlock()
	c.auditRelease() // netpoll closes the descriptor after this callback
	c.mu.Lock()
	c.gone, c.closing = true, true
	reg := c.registered && !c.moved // a moved session's route stays: the new process serves it
	moved := c.moved
	c.mu.Unlock()
	n.released(c) // see limits.go
	if c.state.Load() == stateOpen {
		n.hub.remove(c)
		n.pending.remove(c)
	}
	if c.state.Load() == stateOpen && !moved {
		n.log.Info("push: session closed", "uid", c.uid, "device", c.sess.DeviceID, "conn", c.id, "app", c.app.Value())
	}
	if reg {
		n.spawn(c.unregister)
	}
	n.connMu.Lock()
	delete(n.conns, c)
	if len(n.conns) == 0 {
		n.noConn.Broadcast()
	}
	n.connMu.Unlock()
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// fail sends Error(code) and closes the connection.
func (c *conn) fail(code wire.Code, text string) {
	if c.closeWith(wire.TypeError, code, text) {
		c.n.failed.WithLabelValues(code.String()).Inc()
		lvl := slog.LevelInfo
		if code == wire.CodeInternal || code == wire.CodeSlowConsumer {
			lvl = slog.LevelWarn
		}
		c.n.log.Log(context.Background(), lvl, "push: connection failed", "code", code.String(),
			"conn", c.id, "uid", c.uid, "remote", c.remote, "reason", text)
	}
}
