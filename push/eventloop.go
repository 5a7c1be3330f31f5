package push

import (
	"context"
	"time"

	"github.com/cloudwego/netpoll"
)

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
