package bulkhead

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tetherim/tether"
)

func mustAcquire(t *testing.T, p *Pool) func() {
	t.Helper()
	rel, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	return rel
}

// With every worker busy and the queue full, more work is refused at once
// with overloaded and a Retry-After, whatever the queue wait.
func TestPool_ShedsAtOnceWhenWorkersAndQueueAreFull(t *testing.T) {
	p := NewPool("push_api", Size{Workers: 2, Queue: 1}, time.Hour)
	rel1, rel2 := mustAcquire(t, p), mustAcquire(t, p)
	waiting := make(chan error, 1)
	go func() {
		rel, err := p.Acquire(context.Background())
		if err == nil {
			rel()
		}
		waiting <- err
	}()
	for p.Queued() != 1 {
		time.Sleep(time.Millisecond)
	}
	_, err := p.Acquire(t.Context()) // would wait an hour if it queued
	if tether.ErrorCode(err) != tether.EOVERLOADED {
		t.Fatalf("err = %v, want overloaded", err)
	}
	var e *tether.Error
	if !errors.As(err, &e) || e.RetryAfter < time.Second {
		t.Fatalf("retry after = %v", e)
	}
	if p.Shed() != 1 || p.Busy() != 2 {
		t.Fatalf("shed %d busy %d", p.Shed(), p.Busy())
	}
	rel1()
	if err := <-waiting; err != nil {
		t.Fatalf("queued work got %v after a worker was freed", err)
	}
	rel2()
	if p.Busy() != 0 || p.Queued() != 0 {
		t.Fatalf("busy %d queued %d after all released", p.Busy(), p.Queued())
	}
}

// Queued work gives up with overloaded when the queue wait runs out.
func TestPool_QueuedWorkIsShedAfterTheQueueWait(t *testing.T) {
	p := NewPool("sync", Size{Workers: 1, Queue: 4}, 20*time.Millisecond)
	rel := mustAcquire(t, p)
	defer rel()
	if _, err := p.Acquire(t.Context()); tether.ErrorCode(err) != tether.EOVERLOADED {
		t.Fatalf("err = %v, want overloaded", err)
	}
	if p.Queued() != 0 {
		t.Fatalf("queued %d after giving up", p.Queued())
	}
}

// A caller whose context ends stops waiting and takes no worker.
func TestPool_CancelledWaiterTakesNoWorker(t *testing.T) {
	p := NewPool("send", Size{Workers: 1, Queue: 1}, time.Hour)
	rel := mustAcquire(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Acquire(ctx); err == nil {
		t.Fatal("a cancelled caller got a worker")
	}
	rel()
	if p.Busy() != 0 {
		t.Fatalf("busy %d", p.Busy())
	}
}

// Pools are independent: one business saturated leaves another's workers free.
func TestSet_OnePoolFullLeavesTheOthersServing(t *testing.T) {
	sizes, err := Parse(DefaultSpec)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(sizes, time.Hour)
	push := s.Pool(PushAPI)
	for range push.Size().Workers + push.Size().Queue {
		if push.Free() > 0 {
			mustAcquire(t, push)
			continue
		}
		go func() { _, _ = push.Acquire(context.Background()) }()
	}
	for push.Queued() != push.Size().Queue {
		time.Sleep(time.Millisecond)
	}
	if _, err := push.Acquire(t.Context()); tether.ErrorCode(err) != tether.EOVERLOADED {
		t.Fatalf("push api err = %v, want overloaded", err)
	}
	rel := mustAcquire(t, s.Pool(Send))
	rel()
}

func TestParse_RefusesIncompleteOrMalformedSizes(t *testing.T) {
	for _, bad := range []string{
		"", "send=1/1", "send=0/1," + DefaultSpec, "nope=1/1," + DefaultSpec, "send=16," + DefaultSpec,
		strings.Replace(DefaultSpec, "send=16/64", "send=16/-1", 1), DefaultSpec + ",send=1/1",
		strings.Replace(DefaultSpec, "send=16/64", "send=16/64/0", 1), strings.Replace(DefaultSpec, "send=16/64", "send=16/64/x", 1),
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	sizes, err := Parse(DefaultSpec)
	if err != nil || sizes[GroupSend] != (Size{Workers: 8, Queue: 32}) || len(sizes) != len(Names) {
		t.Fatalf("Parse(default) = %v, %v", sizes, err)
	}
	if got := NewSet(sizes, time.Second).Conns(); got != 67+ConnReserve {
		t.Fatalf("Conns = %d", got)
	}
}

// A pool with a rate admits a burst of workers+queue, then refuses work
// over the rate at once with EOVERLOADED, even with workers free: the
// rate bounds the CPU a flooded business takes, which its workers do not
// when its work is quick.
func TestPool_RefusesWorkOverItsRateWithWorkersFree(t *testing.T) {
	sizes, err := Parse(strings.Replace(DefaultSpec, "push_api=8/32/300", "push_api=2/2/1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if sizes[PushAPI] != (Size{Workers: 2, Queue: 2, Rate: 1}) {
		t.Fatalf("parsed %+v", sizes[PushAPI])
	}
	p := NewSet(sizes, time.Second).Pool(PushAPI)
	for i := range 4 { // the burst: workers + queue
		rel, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatalf("work %d of the burst refused: %v", i, err)
		}
		rel() // a worker is free again at once
	}
	_, err = p.Acquire(context.Background())
	if tether.ErrorCode(err) != tether.EOVERLOADED || p.Free() != 2 {
		t.Fatalf("work over the rate: %v with %d workers free, want EOVERLOADED", err, p.Free())
	}
	if p.Shed() != 1 {
		t.Fatalf("shed = %d", p.Shed())
	}
}

// The gauges the per-second table reads: busy (work0) and queued (workq0) per pool.
func TestSet_ReportsBusyAndQueuedPerPool(t *testing.T) {
	sizes, _ := Parse(DefaultSpec)
	s := NewSet(sizes, time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	rel := mustAcquire(t, s.Pool(Broadcast))
	defer rel()
	want := `
# HELP tether_bulkhead_busy Work running now in a business's pool (the table's work0).
# TYPE tether_bulkhead_busy gauge
tether_bulkhead_busy{pool="broadcast"} 1
tether_bulkhead_busy{pool="group_send"} 0
tether_bulkhead_busy{pool="other"} 0
tether_bulkhead_busy{pool="push_api"} 0
tether_bulkhead_busy{pool="relay"} 0
tether_bulkhead_busy{pool="send"} 0
tether_bulkhead_busy{pool="sync"} 0
tether_bulkhead_busy{pool="webhook"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tether_bulkhead_busy"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "tether_bulkhead_queued"); err != nil || n != len(Names) {
		t.Fatalf("queued series %d, %v", n, err)
	}
}

// A refusal is held until the queue wait has passed since the work came,
// so a caller that sends again at once on each connection is refused at
// most once per wait per connection; a caller that goes away frees it.
func TestPool_HoldRefusalAnswersNoSoonerThanTheQueueWait(t *testing.T) {
	const wait = 150 * time.Millisecond
	p := NewPool(PushAPI, Size{Workers: 1}, wait)
	rel := mustAcquire(t, p)
	defer rel()
	start := time.Now()
	if _, err := p.Acquire(context.Background()); tether.ErrorCode(err) != tether.EOVERLOADED {
		t.Fatalf("acquire with no worker and no queue: %v", err)
	}
	p.HoldRefusal(context.Background(), start)
	if d := time.Since(start); d < wait {
		t.Fatalf("the refusal was answered after %v, before the queue wait %v", d, wait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.HoldRefusal(ctx, time.Now()) // returns at once: the caller is gone
}
