package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/switches"
)

// With the signals switch off, signals are dropped without an error frame
// (counted as degraded) and the sessions stay open; the switch back on lets
// them through again.
func TestSignal_SignalsSwitchOffDropsTheSendersSignalsSilently(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	alice := e.connectTo(n, 1, "phone", "ios")
	carol := e.connectTo(n, 3, "phone", "ios")
	bob := e.connectTo(n, 2, "phone", "ios")
	testenv.Eventually(t, 5*time.Second, func() bool {
		live, err := e.reg.Lookup(context.Background(), []int64{2})
		return err == nil && len(live[2]) == 1
	}, "bob's route registered")

	n.sw.Install(&switches.Snapshot{Version: 1, Switches: []switches.State{{
		Name: switches.Signals, Value: "off",
	}}})
	alice.send(signalFrame(2, "typing", "x"))
	alice.roundTrip() // handled, no error frame, still open
	carol.send(signalFrame(2, "typing", "y"))
	carol.roundTrip()
	bob.roundTrip() // nothing arrived
	if got := e.counterVec("tether_push_transient_dropped_total", "reason", "degraded"); got != 2 {
		t.Fatalf("signals dropped as degraded: %v, want 2", got)
	}

	n.sw.Install(&switches.Snapshot{Version: 2, Switches: []switches.State{{Name: switches.Signals, Value: "on"}}})
	alice.send(signalFrame(2, "typing", "z"))
	bob.expectSignal(1, "typing", "z")
}
