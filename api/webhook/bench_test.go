package webhook_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/api/webhook"
	"github.com/tetherim/tether/internal/testenv"
)

// TestWorker_Throughput measures how fast one worker drains a backlog into a
// local receiver that answers at once, on MariaDB and SQLite. Opt-in:
// TETHER_MEASURE_WEBHOOK=<deliveries>.
func TestWorker_Throughput(t *testing.T) {
	n := measureN(t, "TETHER_MEASURE_WEBHOOK")
	eachDB(t, func(t *testing.T, e *env) {
		a := e.user(t, "alice")
		rcpts := make([]int64, 10)
		for i := range rcpts {
			rcpts[i] = e.user(t, fmt.Sprint("rcpt", i))
		}
		for i := range n {
			e.sendAndRelay(t, a, rcpts[i%len(rcpts)], fmt.Sprint("m", i))
		}
		rcv := newReceiver(t, 0, http.StatusOK)
		start := time.Now()
		e.start(t, webhook.Config{URL: rcv.srv.URL}, nil)
		testenv.Eventually(t, 5*time.Minute, func() bool {
			ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookDelivered, n+1)
			return len(ds) == n
		}, "backlog not drained")
		d := time.Since(start)
		t.Logf("%s: %d deliveries in %v: %.0f/s (concurrency 8)", e.cfg.Driver, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	})
}

func measureN(t *testing.T, env string) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(env), &n); err != nil || n <= 0 {
		t.Skipf("set %s=<n> to measure", env)
	}
	return n
}
