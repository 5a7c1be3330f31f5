package push

import (
	"testing"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
)

// BenchmarkDeliver measures stream-to-socket delivery: jobs XADDed in
// batches of 100 until one connected client has read them all.
func BenchmarkDeliver(b *testing.B) {
	e := newEnv(b, nil)
	e.start()
	c, _ := e.connect(1, "d")
	done := make(chan int)
	go func() {
		n := 0
		for n < b.N {
			f, err := c.next(10e9)
			if err != nil {
				break
			}
			if f.Type == wire.TypeMessage {
				n++
			}
		}
		done <- n
	}()
	b.ResetTimer()
	for v := 0; v < b.N; {
		batch := make([]job.Job, 0, 100)
		for ; v < b.N && len(batch) < 100; v++ {
			batch = append(batch, msgJob("hello", jobTarget(1, uint64(v+1))))
		}
		e.push(batch...)
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
}
