package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
)

// Hot restart: a node listens on Config.UpgradeSocket; a new process of
// the same node (Config.Takeover) connects and receives the listeners and
// every live connection with its session state. Clients notice nothing:
// their sockets stay open and nothing they sent or were sent is lost.
//
// The hotrestart_*.go files hold the node's part:
//
//	hotrestart.go           this overview, the node's hot-restart state, its listeners, Upgrade
//	hotrestart_handover.go  the old side: detach every connection and send it
//	hotrestart_takeover.go  the new side: receive the listeners, adopt the connections
//	hotrestart_adopt.go     adopted sockets enter netpoll through its accept path
//	hotrestart_carry.go     input the old process read but did not handle
//	hotrestart_barrier.go   waits until no poller reads a detached socket
//
// internal/handoff has the protocol on the socket.
//
// Order of events in the old process:
//  1. hello: versions and node ids must match, else nothing happens.
//  2. commit: the listeners stop accepting (the kernel queues new
//     connections for the new process), the stream consumer and the other
//     loops stop after finishing their batch, so every delivery is in some
//     connection's queue.
//  3. each connection stops writing (after its current write), is detached
//     from netpoll without closing the socket, and its unread input and
//     unwritten output travel with its descriptor, in batches.
//  4. unflushed acks travel last; once the new process says done, this one
//     closes its copies of the descriptors and retires without touching
//     Redis: routes name the node id, which does not change.
//
// If the new process fails before step 2, this one is untouched. If it
// fails later, this one adopts the connections it still holds again,
// restarts its loops and keeps serving.

// upgrader is a node's hot-restart state.
type upgrader struct {
	mu       sync.Mutex // one handoff at a time
	sock     *net.UnixListener
	sockDone chan struct{}
	paused   atomic.Bool // the listeners accept nothing: a handoff committed
	retired  atomic.Bool // the node was handed over
	shared   []sharedListener
	inherit  map[string]*os.File // takeover: listeners received by name
	handedCh chan struct{}       // closed when retired
	conn     *handoff.Conn       // takeover: the conversation with the old process

	adopt     *adoptListener // sockets being adopted (hotrestart_adopt.go)
	adoptEvl  netpoll.EventLoop
	adoptDone chan struct{}
}

type sharedListener struct {
	name string
	file *os.File
}

// pausableListener stops accepting while a handoff is under way: Accept
// then reports nothing to accept and the connection stays in the kernel's
// queue, where the new process, which shares the socket, accepts it.
type pausableListener struct {
	netpoll.Listener
	paused *atomic.Bool
}

func (l *pausableListener) Accept() (net.Conn, error) {
	if l.paused.Load() {
		// Yields the poller; the other process accepts it right away.
		time.Sleep(time.Millisecond)
		return nil, nil
	}
	return l.Listener.Accept()
}

// listen creates the client listener, or takes it over from the old
// process (takeListeners).
func (n *Node) listen(ctx context.Context) (netpoll.Listener, error) {
	if n.cfg.Takeover {
		if err := n.takeListeners(ctx); err != nil {
			return nil, err
		}
	}
	ln, err := n.listenShared("tcp", n.cfg.TCPAddr)
	if err != nil && n.up.conn != nil {
		_ = n.up.conn.Close() // the old process takes its connections back at once
		n.up.conn = nil
	}
	return ln, err
}

// listenShared creates a listener of the node's own, or takes the one named
// name over from the old process.
func (n *Node) listenShared(name, addr string) (netpoll.Listener, error) {
	var ln netpoll.Listener
	if f := n.up.inherit[name]; f != nil {
		delete(n.up.inherit, name)
		nl, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		if ln, err = ownListener(nl); err != nil {
			return nil, err
		}
	} else {
		var err error
		if ln, err = listenTCP(addr); err != nil {
			return nil, err
		}
	}
	return &pausableListener{Listener: ln, paused: &n.up.paused}, nil
}

// ShareListener hands l over with the node in a hot restart under name;
// the new process gets it back from InheritedListener. Call it before the
// upgrade starts, e.g. for the admin HTTP listener.
func (n *Node) ShareListener(name string, l net.Listener) error {
	fl, ok := l.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("push: listener %q cannot be shared (%T)", name, l)
	}
	f, err := fl.File()
	if err != nil {
		return fmt.Errorf("push: share listener %q: %w", name, err)
	}
	n.up.mu.Lock()
	n.up.shared = append(n.up.shared, sharedListener{name: name, file: f})
	n.up.mu.Unlock()
	return nil
}

// HandedOver is closed once the node was handed over to a new process by a
// hot restart; the old process should then exit (Stop returns at once).
func (n *Node) HandedOver() <-chan struct{} { return n.up.handedCh }

// serveUpgrades listens on Config.UpgradeSocket for a new process that
// takes the node over.
func (n *Node) serveUpgrades() error {
	path := n.cfg.UpgradeSocket
	if path == "" {
		return nil
	}
	ul, err := handoff.Listen(path)
	if err != nil {
		return fmt.Errorf("push: upgrade socket: %w", err)
	}
	n.up.sock, n.up.sockDone = ul, make(chan struct{})
	go func() {
		defer close(n.up.sockDone)
		for {
			uc, err := ul.AcceptUnix()
			if err != nil {
				return // closed by Stop or after a handoff
			}
			if err := n.handOff(uc); errors.Is(err, io.EOF) {
				// A peer that leaves before its hello, e.g. `tether push
				// --upgrade` learning this process's pid: nothing began.
				n.log.Debug("push: upgrade socket: peer left before its hello")
			} else if err != nil {
				n.log.Error("push: hot restart failed; this process keeps serving", "err", err)
			}
			_ = uc.Close()
			if n.up.retired.Load() {
				return
			}
		}
	}()
	return nil
}

// closeUpgrades stops listening for upgrades. The socket file goes too
// unless the node was handed over: then it is the new process's.
func (n *Node) closeUpgrades() {
	if n.up.sock != nil {
		_ = n.up.sock.Close()
		<-n.up.sockDone
		if !n.up.retired.Load() {
			_ = os.Remove(n.cfg.UpgradeSocket)
		}
	}
}

// Upgrade starts a new process with start (it must run this node with
// Config.Takeover) and waits until it has taken the node over, it exits,
// or ctx ends (then it is killed). On error this node keeps serving and
// can be upgraded again.
func (n *Node) Upgrade(ctx context.Context, start func() (*os.Process, error)) (err error) {
	// A failed hot restart is a server error of unit push/hot_restart; an
	// alert watches it (deployments/prometheus/alerts.yml).
	done := n.m.Begin(metrics.LayerPush, "hot_restart", 0, slog.String("node", n.cfg.NodeID))
	defer func() { done(err) }()
	if n.cfg.UpgradeSocket == "" {
		return errors.New("push: hot restart needs Config.UpgradeSocket")
	}
	if n.up.retired.Load() {
		return errors.New("push: node already handed over")
	}
	n.publishState(ctx, route.StateHotRestarting) // control.go; the new process's heartbeat says ready
	defer func() {
		if err != nil {
			n.publishState(ctx, route.StateReady) // this process keeps serving
		}
	}()
	p, err := start()
	if err != nil {
		return fmt.Errorf("push: start new process: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil {
			err = fmt.Errorf("new process exited: %s", st)
		}
		exited <- err
	}()
	n.log.Info("push: hot restart: new process started", "pid", p.Pid)
	select {
	case <-n.up.handedCh:
		return nil
	case err := <-exited:
		select {
		case <-n.up.handedCh: // it took over, then exited on its own
			return nil
		default:
		}
		return fmt.Errorf("push: hot restart: %w", err)
	case <-ctx.Done():
		_ = p.Kill()
		<-exited
		select {
		case <-n.up.handedCh:
			return nil
		default:
		}
		return fmt.Errorf("push: hot restart: the new process did not take over in time: %w", ctx.Err())
	}
}
