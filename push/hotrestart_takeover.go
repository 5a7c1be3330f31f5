package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unique"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/push/wire"
)

// Hot restart, new side: with Config.Takeover, Start connects to the old
// process's Config.UpgradeSocket instead of binding, receives the listeners
// (takeListeners), serves them, adopts every connection (adoptConns), and
// only then starts consuming the node's stream: the same node id and
// consumer group, so entries the old process read but did not ack are read
// again. See hotrestart.go for the overview and internal/handoff for the
// protocol.

// takeListeners connects to the old process and receives its listeners,
// which listenShared and InheritedListener then take by name.
func (n *Node) takeListeners(ctx context.Context) error {
	if n.cfg.UpgradeSocket == "" {
		return errors.New("push: Config.Takeover needs Config.UpgradeSocket")
	}
	hc, _, err := handoff.Dial(ctx, n.cfg.UpgradeSocket, handoff.Me(n.cfg.NodeID), n.cfg.UpgradeTimeout)
	if err != nil {
		return fmt.Errorf("push: takeover: %w", err)
	}
	lst, fds, err := hc.RecvListeners()
	if err != nil {
		_ = hc.Close()
		return fmt.Errorf("push: takeover: %w", err)
	}
	n.up.inherit = map[string]*os.File{}
	for i, l := range lst {
		n.up.inherit[l.Name] = os.NewFile(uintptr(fds[i]), "listener-"+l.Name)
	}
	if n.up.inherit["tcp"] == nil {
		_ = hc.Close()
		return errors.New("push: takeover: the old process sent no tcp listener")
	}
	n.up.conn = hc
	return nil
}

// InheritedListener returns the listener the old process shared under name
// (Node.ShareListener) in a takeover, or nil. Each name is returned once.
func (n *Node) InheritedListener(name string) (net.Listener, error) {
	f := n.up.inherit[name]
	if f == nil {
		return nil, nil
	}
	delete(n.up.inherit, name)
	defer f.Close()
	return net.FileListener(f)
}

// adoptConns receives and adopts every connection of the old process, then
// tells it that it may exit.
func (n *Node) adoptConns() error {
	hc := n.up.conn
	if hc == nil {
		return nil
	}
	defer func() { _ = hc.Close(); n.up.conn = nil }()
	adopted := 0
	for {
		sts, fds, end, err := hc.RecvConns()
		if err != nil {
			return fmt.Errorf("push: takeover: %w", err)
		}
		if end != nil {
			n.acks.putBack(ackMap(end.Acks))
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.UpgradeTimeout)
			err := n.waitAdopted(ctx)
			cancel()
			if err != nil {
				return err
			}
			if err := hc.SendDone(); err != nil {
				return fmt.Errorf("push: takeover: %w", err)
			}
			n.log.Info("push: took the node over", "connections", adopted, "sessions", n.hub.count())
			return nil
		}
		for i, st := range sts {
			if err := n.adopt(fds[i], st); err != nil {
				n.log.Warn("push: takeover: connection not adopted", "conn", st.ID, "err", err)
				_ = syscall.Close(fds[i])
				continue
			}
			adopted++
		}
	}
}

// adopt queues fd, a client socket with state st, for adoption by this
// node (see hotrestart_adopt.go; prepareAdopted finishes it).
func (n *Node) adopt(fd int, st handoff.ConnState) error {
	if err := n.startAdoption(); err != nil {
		return err
	}
	n.up.adopt.push(fd, st)
	return nil
}

// waitAdopted waits until every queued socket is a connection in the hub.
func (n *Node) waitAdopted(ctx context.Context) error {
	if n.up.adopt == nil {
		return nil
	}
	for {
		n.up.adopt.mu.Lock()
		left := len(n.up.adopt.pending)
		n.up.adopt.mu.Unlock()
		if left == 0 {
			return nil
		}
		if !sleep(ctx, time.Millisecond) {
			return fmt.Errorf("push: takeover: %d connections not adopted in time", left)
		}
	}
}

// prepareAdopted is onPrepare for a handed-over socket: it restores the
// connection's session and returns its context. The socket is not in the
// poller yet, so nothing else reads it while carried-over frames are handled.
func (n *Node) prepareAdopted(nc netpoll.Connection, st handoff.ConnState) context.Context {
	c := &conn{n: n, nc: nc, id: st.ID, remote: st.Remote, hold: !st.Open}
	c.buf = st.Out
	// The carried output may begin with the rest of a frame the old process
	// wrote in part; which bytes those are did not travel, so none of it is
	// ever dropped (a slow-consumer close keeps keep bytes): cutting a frame
	// would corrupt the stream.
	c.keep = len(st.Out)
	c.closing = st.Closing
	c.registered = st.Registered
	c.ws = restoreWS(st.WS)
	if len(st.In) > 0 {
		c.in = &carryReader{pre: st.In, r: nc.Reader()}
	}
	timeout := n.cfg.HandshakeTimeout
	if st.Open {
		c.uid, c.sess, c.openedMS = st.UID, st.Session, st.OpenedMS
		c.app = unique.Make(st.AppVersion)
		c.proto = max(st.Proto, 1)
		c.state.Store(stateOpen)
		timeout = n.cfg.IdleTimeout
	} else {
		n.handshakes.Add(1)
	}
	c.auditOwn() // tests: see fdaudit.go
	// Deadlines restart: the client could not be heard while it moved.
	c.lastSeen.Store(time.Now().UnixNano())
	_ = nc.SetReadTimeout(timeout)
	n.connMu.Lock()
	n.conns[c] = struct{}{}
	n.connMu.Unlock()
	_ = nc.AddCloseCallback(func(netpoll.Connection) error {
		c.onClosed()
		return nil
	})
	if st.Open {
		if newer := n.hub.appendSessions(nil, c.uid, c.sess.DeviceID); len(newer) > 0 {
			// The device connected again meanwhile: the newer session wins.
			c.closeWith(wire.TypeClose, wire.CodeNormal, "replaced")
		} else {
			n.hub.add(c)
			if st.Pending {
				n.pending.queue(c, pendingState{told: st.Told, rewrite: st.Rewrite})
			}
		}
	}
	ctx := c.context()
	if c.in != nil {
		// Whole frames carried over are handled now: netpoll calls
		// OnRequest only when new bytes arrive.
		c.in.nowait = true
		_ = n.onRequest(ctx, nc)
		c.in.nowait = false
	}
	if n.closingDown() {
		c.closeWith(wire.TypeClose, wire.CodeShuttingDown, "node shutting down")
	}
	// Output waiting since the old process is written once the socket is
	// in the poller, right after this returns.
	n.spawn(c.kick)
	return ctx
}
