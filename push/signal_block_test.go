package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/blockmirror"
)

// waitRoutes waits until uid has n routes in the registry.
func (e *env) waitRoutes(uid int64, n int) {
	e.t.Helper()
	testenv.Eventually(e.t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{uid})
		return err == nil && len(live[uid]) == n
	}, "routes registered")
}

func TestSignal_FromAUserTheRecipientBlockedNeverArrivesOnAnyNode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n1 := e.start()
	n2, _ := e.startPeer(testenv.Name("node"), nil)
	mallory := e.connectTo(n1, 1, "phone", "ios")
	bobHere := e.connectTo(n1, 2, "phone", "ios")
	bobThere := e.connectTo(n2, 2, "browser", "web")
	carol := e.connectTo(n1, 3, "phone", "ios")
	e.waitRoutes(2, 2)
	mirror := blockmirror.New(e.rdb, e.prefix)
	ctx := context.Background()
	if err := mirror.Block(ctx, 2, 1); err != nil { // bob blocked mallory
		t.Fatal(err)
	}

	mallory.send(signalFrame(2, "typing", "blocked"))
	mallory.roundTrip()
	carol.send(signalFrame(2, "typing", "marker")) // relayed after mallory's
	bobHere.expectSignal(3, "typing", "marker")
	bobThere.expectSignal(3, "typing", "marker")
	if got := e.counterVec("tether_push_transient_dropped_total", "reason", "blocked"); got != 1 {
		t.Fatalf("signals dropped as blocked: %v, want 1", got)
	}
	// A block is one-directional: bob may still signal mallory.
	bobHere.send(signalFrame(1, "typing", "to mallory"))
	mallory.expectSignal(2, "typing", "to mallory")

	// Unblocked, mallory's signals arrive again.
	if err := mirror.Unblock(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	mallory.send(signalFrame(2, "typing", "again"))
	bobHere.expectSignal(1, "typing", "again")
	bobThere.expectSignal(1, "typing", "again")
}

// Redis lost the mirror (restarted empty): until an API process rebuilt
// it, a node cannot tell who blocked whom, so signals between users are
// dropped rather than risk reaching a blocker. Typing sync between one's own
// devices needs no check and goes on.
func TestSignal_WhileTheBlockMirrorIsIncompleteSignalsBetweenUsersAreDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	alicePhone := e.connectTo(n, 1, "phone", "ios")
	aliceLaptop := e.connectTo(n, 1, "laptop", "desktop")
	bob := e.connectTo(n, 2, "phone", "ios")
	e.waitRoutes(1, 2)
	ctx := context.Background()
	if err := e.rdb.Del(ctx, e.prefix+"blocks:complete").Err(); err != nil {
		t.Fatal(err)
	}

	alicePhone.send(signalFrame(2, "typing", "unchecked"))
	alicePhone.send(signalFrame(1, "draft", "own"))
	aliceLaptop.expectSignal(1, "draft", "own")
	testenv.Eventually(t, 5*time.Second, func() bool {
		return e.counterVec("tether_push_transient_dropped_total", "reason", "blocks_unknown") == 1
	}, "the signal to bob dropped as unknown")

	if _, err := blockmirror.New(e.rdb, e.prefix).Rebuild(ctx, noBlocks{}); err != nil {
		t.Fatal(err)
	}
	alicePhone.send(signalFrame(2, "typing", "checked"))
	bob.expectSignal(1, "typing", "checked") // the first one never came
}

// Without Redis the block check cannot be made: a signal between users is
// dropped, never delivered unchecked, even to a recipient on the same node.
func TestSignal_WithoutRedisSignalsBetweenUsersAreDroppedNotDeliveredUnchecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := blockmirror.New(e.rdb, e.prefix).Block(context.Background(), 2, 1); err != nil {
		t.Fatal(err)
	}
	e.down.Store(true) // the node's Redis, from its start
	n := e.start()
	alice := e.connectTo(n, 1, "phone", "ios")
	bob := e.connectTo(n, 2, "phone", "ios")
	alice.send(signalFrame(2, "typing", "while down"))
	alice.roundTrip()
	testenv.Eventually(t, 10*time.Second, func() bool {
		return e.counterVec("tether_push_transient_dropped_total", "reason", "redis") >= 1
	}, "the signal dropped for want of Redis")
	bob.roundTrip() // nothing but the pong
}
