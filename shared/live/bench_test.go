package live

import (
	"fmt"
	"testing"
	"time"

	"github.com/tetherim/tether/shared/metrics"
)

// BenchmarkStep is one second's work of a process's recorder: gather the
// registry (Go and process collectors included) and build the snapshot,
// with 60 units that ran in the second.
func BenchmarkStep(b *testing.B) {
	m := quietMetrics()
	rec := NewRecorder(m.Gatherer(), Config{Process: "n1", Role: RolePush})
	at := time.Unix(1_000_000, 0)
	rec.step(b.Context(), at)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for u := range 60 {
			m.Observe(metrics.LayerHTTP, fmt.Sprint("/v1/route", u), time.Millisecond, nil, time.Second)
		}
		at = at.Add(time.Second)
		rec.step(b.Context(), at)
	}
}
