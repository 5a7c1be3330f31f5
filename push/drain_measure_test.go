package push

import (
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// TestDrainMeasure drains a node holding TETHER_MEASURE_DRAIN connections
// whose clients leave on their Reconnect, and reports how the Reconnect
// frames were spread and how long the drain took. Opt-in: it opens two
// descriptors per connection in this process.
//
//	TETHER_MEASURE_DRAIN=5000 go test ./push -run TestDrainMeasure -v
func TestDrainMeasure(t *testing.T) {
	count, _ := strconv.Atoi(os.Getenv("TETHER_MEASURE_DRAIN"))
	if count <= 0 {
		t.Skip("set TETHER_MEASURE_DRAIN=<connections> to measure a drain")
	}
	e := newEnv(t, nil) // default DrainRate and DrainWindow
	n := e.start()
	cs := make([]*tclient, count)
	for i := range cs {
		cs[i], _ = e.connect(int64(1_000_000+i), "d")
	}
	t.Logf("%d sessions open", n.Sessions())
	var mu sync.Mutex
	at := make([]time.Duration, 0, count)
	var wg sync.WaitGroup
	start := time.Now()
	done := drainAsync(n, 2*time.Minute, 0)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.next(time.Minute)
			if err != nil || f.Type != wire.TypeReconnect {
				t.Errorf("got %s %v", f.Type, err)
				return
			}
			d := time.Since(start)
			c.send(wire.AppendClose(nil, wire.CodeNormal, "moving"))
			_ = c.nc.Close()
			mu.Lock()
			at = append(at, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	slices.Sort(at)
	pct := func(p float64) time.Duration { return at[int(p*float64(len(at)-1))].Round(time.Millisecond) }
	t.Logf("drain of %d connections (DrainRate %d/s): Reconnect received first %s, p50 %s, p99 %s, last %s; Drain returned after %s",
		count, n.cfg.DrainRate, pct(0), pct(0.5), pct(0.99), pct(1), took.Round(time.Millisecond))
}
