package stack

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tetherim/tether/push"
	"github.com/tetherim/tether/shared/job"
)

// Operators' requests to a push node (push/control.go): a drain stops the
// node gracefully, as SIGTERM does, and the process then exits (Drained); a
// hot restart is handed to whatever runs the process (HotRestartRequests),
// since only it knows how to start the new process (cmd/tether does it as
// for SIGUSR2).

// opsRequests carries the node's requests to the process's loop. The node
// calls control on its stream consumer, so it never blocks: a request that
// finds one of its kind already waiting is the same request again.
type opsRequests struct {
	drain   chan string // reasons
	restart chan struct{}
	done    chan struct{} // closed by close: nothing is served any more
	once    sync.Once
}

func newOpsRequests() *opsRequests {
	return &opsRequests{drain: make(chan string, 1), restart: make(chan struct{}, 1), done: make(chan struct{})}
}

func (o *opsRequests) control(kind job.Kind, reason string) {
	switch kind {
	case job.KindDrain:
		select {
		case o.drain <- reason:
		default:
		}
	case job.KindHotRestart:
		select {
		case o.restart <- struct{}{}:
		default:
		}
	}
}

func (o *opsRequests) close() { o.once.Do(func() { close(o.done) }) }

// serveOps stops the node when an operator asks for a drain, within grace
// (the drain window and the shutdown timeout, as for SIGTERM), and closes
// Drained once it has stopped.
func (p *Push) serveOps(grace time.Duration) {
	select {
	case <-p.ops.done:
		return
	case reason := <-p.ops.drain:
		p.log.Info("operator asked to drain this node; draining, then stopping", "node", p.NodeID, "reason", reason)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			if err := p.Stop(ctx); err != nil {
				p.log.Warn("drain asked by an operator ended with an error", "node", p.NodeID, "err", err)
			}
			close(p.drainedCh)
		}()
	}
}

// Drained is closed once the node has drained and stopped on an operator's
// request; the process should then exit.
func (p *Push) Drained() <-chan struct{} { return p.drainedCh }

// HotRestartRequests delivers an operator's request to hot-restart the
// node; answer it as SIGUSR2 (Upgrade).
func (p *Push) HotRestartRequests() <-chan struct{} { return p.ops.restart }

// devControl drains tether dev's in-process node on an operator's request;
// push then stops until tether dev restarts. The node refuses hot restarts
// itself: it has no upgrade socket.
func (d *Dev) devControl(kind job.Kind, reason string) {
	if kind != job.KindDrain {
		return
	}
	d.log.Info("operator asked to drain the dev node; push stops until tether dev restarts", "reason", reason)
	d.nodeDrained.Store(true) // Stop must not stop it again
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.node.Drain(ctx, 0); err != nil && !errors.Is(err, push.ErrDraining) {
			d.log.Warn("drain of the dev node ended with an error", "err", err)
		}
	}()
}
