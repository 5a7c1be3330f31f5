// The ring holds a process's last RingSize seconds: a fixed array written
// in place, so ten minutes of history cost the same memory after an hour
// as after ten minutes.

package live

import (
	"sync"
	"time"
)

// RingSize is how many seconds a process keeps: ten minutes.
const RingSize = 600

// ring is the last RingSize snapshots, oldest overwritten first.
type ring struct {
	mu   sync.RWMutex
	buf  [RingSize]Snapshot
	next int // where the next snapshot goes
	n    int // snapshots held, at most RingSize
}

func (r *ring) add(s Snapshot) {
	r.mu.Lock()
	r.buf[r.next] = s
	r.next = (r.next + 1) % RingSize
	r.n = min(r.n+1, RingSize)
	r.mu.Unlock()
}

// last returns up to n of the newest snapshots taken after since (zero:
// any), oldest first.
func (r *ring) last(n int, since time.Time) []Snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n = min(max(n, 0), r.n)
	out := make([]Snapshot, 0, n)
	for i := r.n - n; i < r.n; i++ {
		s := r.buf[(r.next-r.n+i+RingSize)%RingSize]
		if s.At.After(since) {
			out = append(out, s)
		}
	}
	return out
}

// len is the number of snapshots held.
func (r *ring) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}
