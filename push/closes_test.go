package push

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/metrics"
)

// failedCloses reads tether_push_failed_closes_total{code}.
func failedCloses(n *Node, code wire.Code) float64 {
	return testutil.ToFloat64(n.failed.WithLabelValues(code.String()))
}

func TestFailedCloses_CountedByCodeAndSlowConsumerExposedFromTheStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	if got := testutil.CollectAndCount(n.failed); got != 1 {
		t.Errorf("%d series before any close, want slow_consumer at 0", got)
	}
	c := e.dial()
	c.send(wire.AppendPing(nil, []byte("12345678"))) // before Hello: unexpected_frame
	c.expectReason(wire.TypeError, wire.CodeUnexpectedFrame)
	c.expectClosed()
	testenv.Eventually(t, 5*time.Second, func() bool { return failedCloses(n, wire.CodeUnexpectedFrame) == 1 }, "the close counted")
	if got := failedCloses(n, wire.CodeSlowConsumer); got != 0 {
		t.Errorf("slow_consumer closes = %v", got)
	}
	if got := e.counter("tether_errors_total", metrics.LayerPush, "invalid"); got != 1 {
		t.Errorf("invalid frames = %v, want 1", got)
	}
}

func TestHotRestart_AFailedUpgradeCountsAsAServerError(t *testing.T) {
	e := upgradeEnv(t, overTCP)
	n := e.start()
	err := n.Upgrade(context.Background(), func() (*os.Process, error) { return nil, errors.New("no such binary") })
	if err == nil {
		t.Fatal("Upgrade with a process that cannot start succeeded")
	}
	var server float64
	mfs, _ := n.m.Gatherer().Gather()
	for _, mf := range mfs {
		if mf.GetName() != "tether_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["layer"] == "push" && l["name"] == "hot_restart" && l["class"] == metrics.ClassServer {
				server += m.GetCounter().GetValue()
			}
		}
	}
	if server != 1 {
		t.Errorf("hot_restart server errors = %v, want 1 (alerts.yml TetherHotRestartFailed)", server)
	}
}
