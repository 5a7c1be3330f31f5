package push

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tetherim/tether/shared/route"
)

// discovered returns the node's entry among the nodes the API hands out.
func (e *env) discovered(id string) (route.Info, bool) {
	e.t.Helper()
	nodes, err := e.reg.Discover(context.Background(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return route.Info{}, false
}

func TestDiscovery_ANodeIsHandedOutWithItsAddressesAndLoadOnlyWhileReady(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	e.cfg.WSAddr = "127.0.0.1:0"
	n := e.start()
	id := n.cfg.NodeID
	info, ok := e.discovered(id)
	if !ok || info.TCPAddr != n.TCPAddr().String() || info.WSAddr != "ws://"+n.WSAddr().String()+"/ws" {
		t.Fatalf("a started node: %+v (handed out: %v)", info, ok)
	}
	e.connect(1, "phone")
	n.publishState(context.Background(), route.StateReady) // what the next heartbeat writes
	if info, _ := e.discovered(id); info.Sessions != 1 {
		t.Fatalf("load = %d, want 1 session", info.Sessions)
	}

	// A hot restart whose new process never takes over: not handed out
	// while it runs, handed out again once it failed.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- n.Upgrade(ctx, func() (*os.Process, error) {
			cmd := exec.Command("sleep", "30")
			err := cmd.Start()
			return cmd.Process, err
		})
	}()
	time.Sleep(500 * time.Millisecond)
	if info, ok := e.discovered(id); ok {
		t.Fatalf("a node in a hot restart was handed out: %+v", info)
	}
	if err := <-done; err == nil {
		t.Fatal("the hot restart succeeded without a new process")
	}
	if info, ok := e.discovered(id); !ok || info.Sessions != 1 {
		t.Fatalf("after the failed hot restart: %+v (handed out: %v)", info, ok)
	}

	// A real one: the new process is handed out, with the adopted sessions
	// as its load, as soon as it holds them, not before.
	e.takeOver()
	if info, ok := e.discovered(id); !ok || info.Sessions != 1 {
		t.Fatalf("after the takeover: %+v (handed out: %v)", info, ok)
	}

	// A draining node leaves at once.
	errc := drainAsync(e.node, 5*time.Second, time.Second)
	time.Sleep(100 * time.Millisecond)
	if info, ok := e.discovered(id); ok {
		t.Fatalf("a draining node was handed out: %+v", info)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if info, ok := e.discovered(id); ok {
		t.Fatalf("a stopped node was handed out: %+v", info)
	}
}
