package push

import (
	"context"
	"time"

	"github.com/cloudwego/netpoll"
)

// newEventLoop returns an event loop for the node's client connections.
// The TCP and WebSocket listeners and a hot restart's adoption each serve
// one; all three must treat a connection alike, since a connection moves
// from either listener to adoption in a hot restart.
func (n *Node) newEventLoop() (netpoll.EventLoop, error) {
	return netpoll.NewEventLoop(n.onRequest,
		netpoll.WithOnPrepare(n.onPrepare),
		netpoll.WithOnConnect(n.onConnect), // writers start only after registration; see conn.go
		netpoll.WithWriteTimeout(n.cfg.WriteTimeout))
}

// shutdownLoop stops evl and waits until its Serve goroutine has returned
// (done is closed when it has).
//
// netpoll's Shutdown only signals a Serve that has already installed its
// server: called before the Serve goroutine got that far, it does nothing
// and Serve then waits forever. So Shutdown is repeated until Serve returns.
// A node stopped right after Start hit exactly that.
func shutdownLoop(ctx context.Context, evl netpoll.EventLoop, done <-chan struct{}) {
	for {
		_ = evl.Shutdown(ctx)
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
