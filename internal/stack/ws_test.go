package stack

import (
	"context"
	"testing"
)

func TestStartDev_DeliversOverWebSocket(t *testing.T) {
	t.Parallel()
	d, err := StartDev(context.Background(), devConfig(t, t.TempDir()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	if d.WSAddr == "" {
		t.Fatal("tether dev has no WebSocket listener")
	}
	// The same exchange as over TCP, with the push client on WebSocket.
	exchange(t, d.HTTPAddr, "ws://"+d.WSAddr+"/ws", d.Sessions)
}
