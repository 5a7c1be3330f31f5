package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

// memSource is a consumer group in memory, with faults to inject.
type memSource struct {
	mu        sync.Mutex
	entries   []Entry         // the stream
	next      int             // index of the first entry not delivered yet
	pending   []string        // delivered, not acked, in order
	acked     map[string]bool //
	joins     int             //
	failJoins int             // Join fails this many more times
	failAcks  int             // Ack fails this many more times
	noGroup   bool            // Read fails with ErrNoGroup until Recover
	recovered []string        // the last ids Recover was given
	reads     []string        // "pending after X" or "new", per call
}

func newMem(ids ...string) *memSource {
	m := &memSource{acked: map[string]bool{}}
	m.add(ids...)
	return m
}

func (m *memSource) add(ids ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		m.entries = append(m.entries, Entry{ID: id})
	}
}

func (m *memSource) Name() string { return "mem" }

func (m *memSource) Join(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.joins++
	if m.failJoins > 0 {
		m.failJoins--
		return "", errors.New("join refused")
	}
	return "", nil
}

func (m *memSource) Read(ctx context.Context, pending bool, after string, count int, block time.Duration) ([]Entry, error) {
	m.mu.Lock()
	if m.noGroup {
		m.mu.Unlock()
		return nil, fmt.Errorf("NOGROUP: %w", ErrNoGroup)
	}
	var out []Entry
	if pending {
		m.reads = append(m.reads, "pending after "+after)
		for _, id := range m.pending { // ids compare like Redis's here: one digit each
			if id > after && len(out) < count {
				out = append(out, Entry{ID: id})
			}
		}
		m.mu.Unlock()
		return out, nil
	}
	m.reads = append(m.reads, "new")
	for ; m.next < len(m.entries) && len(out) < count; m.next++ {
		out = append(out, m.entries[m.next])
		m.pending = append(m.pending, m.entries[m.next].ID)
	}
	m.mu.Unlock()
	if len(out) == 0 {
		select { // nothing new: wait like BLOCK
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(block):
		}
	}
	return out, nil
}

func (m *memSource) Ack(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAcks > 0 {
		m.failAcks--
		return errors.New("ack refused")
	}
	for _, id := range ids {
		m.acked[id] = true
	}
	kept := m.pending[:0]
	for _, id := range m.pending {
		if !m.acked[id] {
			kept = append(kept, id)
		}
	}
	m.pending = kept
	return nil
}

func (m *memSource) Recover(_ context.Context, last string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noGroup = false
	m.recovered = append(m.recovered, last)
	return nil
}

func (m *memSource) state(f func(m *memSource) bool) func() bool {
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return f(m)
	}
}

// run starts a Reader on src that records what it handled; stop ends it
// and waits.
func run(t *testing.T, src Source, batch int) (handled func() []string, stop func()) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &Reader{Source: src, Batch: batch, Block: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		Handle: func(es []Entry) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range es {
				got = append(got, e.ID)
			}
		}}
	go func() { defer close(done); r.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }, stop
}

func TestReader_PendingEntriesFirstThenNewOnesEachAckedAfterHandling(t *testing.T) {
	m := newMem("1", "2", "3", "4", "5")
	// An earlier run read 1..3 and crashed before acking them.
	m.next, m.pending = 3, []string{"1", "2", "3"}
	handled, stop := run(t, m, 2)
	testenv.Eventually(t, 5*time.Second, m.state(func(m *memSource) bool { return len(m.acked) == 5 }), "all acked")
	stop()
	if got := handled(); !reflect.DeepEqual(got, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("handled %v; want the pending 1..3 first, then 4, 5", got)
	}
	// Pending entries are paged after the last one handled, then new ones read.
	if want := []string{"pending after ", "pending after 2", "pending after 3", "new"}; !reflect.DeepEqual(m.reads[:4], want) {
		t.Fatalf("reads %v; want %v first", m.reads, want)
	}
}

func TestReader_FailedAckReadsTheBatchAgain(t *testing.T) {
	m := newMem("1", "2")
	m.failAcks = 1
	handled, stop := run(t, m, 10)
	testenv.Eventually(t, 5*time.Second, m.state(func(m *memSource) bool { return len(m.acked) == 2 }), "acked after the retry")
	stop()
	if got := handled(); !reflect.DeepEqual(got, []string{"1", "2", "1", "2"}) {
		t.Fatalf("handled %v; want the batch, then the same batch again from pending", got)
	}
}

func TestReader_LostGroupIsRecoveredAfterTheLastNewEntry(t *testing.T) {
	m := newMem("1", "2")
	handled, stop := run(t, m, 10)
	testenv.Eventually(t, 5*time.Second, m.state(func(m *memSource) bool { return len(m.acked) == 2 }), "first batch acked")
	m.mu.Lock()
	m.noGroup = true
	m.mu.Unlock()
	m.add("3")
	testenv.Eventually(t, 5*time.Second, m.state(func(m *memSource) bool { return m.acked["3"] }), "read on after recovery")
	stop()
	if !reflect.DeepEqual(m.recovered, []string{"2"}) {
		t.Fatalf("recovered at %v; want after 2, the last entry read", m.recovered)
	}
	if got := handled(); !reflect.DeepEqual(got, []string{"1", "2", "3"}) {
		t.Fatalf("handled %v", got)
	}
}

func TestReader_JoinIsRetriedUntilTheSourceAnswers(t *testing.T) {
	m := newMem("1")
	m.failJoins = 2
	handled, stop := run(t, m, 10)
	testenv.Eventually(t, 5*time.Second, m.state(func(m *memSource) bool { return m.acked["1"] }), "read after joining")
	stop()
	if m.joins != 3 || len(handled()) != 1 {
		t.Fatalf("joins %d, handled %v", m.joins, handled())
	}
}

func TestReader_StopsWhileTheSourceFails(t *testing.T) {
	m := newMem()
	m.failJoins = 1 << 30
	_, stop := run(t, m, 10)
	time.Sleep(50 * time.Millisecond)
	stop() // returns: the join backoff ends with the context
}
