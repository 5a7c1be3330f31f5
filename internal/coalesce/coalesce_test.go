package coalesce

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
)

// gate is a hook that holds every pipeline until released, records what
// each carried, and fails the pipelines that carry a key holding "fail".
type gate struct {
	mu      sync.Mutex
	sizes   []int
	release chan struct{}
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if n := cmds[0].Name(); n == "hello" || n == "client" || n == "auth" {
			return next(ctx, cmds) // a new connection's handshake
		}
		<-g.release
		g.mu.Lock()
		g.sizes = append(g.sizes, len(cmds))
		g.mu.Unlock()
		for _, c := range cmds {
			for _, a := range c.Args() {
				if s, ok := a.(string); ok && strings.Contains(s, "fail") {
					return errors.New("injected: the connection broke")
				}
			}
		}
		return next(ctx, cmds)
	}
}

// waitState waits until running pipelines are in flight (or being built)
// and pending callers wait for the next.
func waitState(t *testing.T, r *Runner, running, pending int) {
	testenv.Eventually(t, 5*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.running == running && len(r.pending) == pending
	}, "never %d pipelines in flight and %d callers queued", running, pending)
}

func setup(t *testing.T) (*redis.Client, string, *gate) {
	rdb, prefix := testenv.Redis(t)
	g := &gate{release: make(chan struct{})}
	rdb.AddHook(g)
	return rdb, prefix, g
}

// TestRunner_ConcurrentCallersShareOnePipelineAndAFailingCommandFailsOnlyItsCaller:
// callers queued while a pipeline is in flight go together in the next one,
// and one caller's failing command (an error reply) leaves the others' results.
func TestRunner_ConcurrentCallersShareOnePipelineAndAFailingCommandFailsOnlyItsCaller(t *testing.T) {
	rdb, prefix, g := setup(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, prefix+"text", "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := New(rdb, 1, 0)
	first := make(chan error, 1)
	go func() {
		first <- r.Do(ctx, func(p redis.Pipeliner) { p.Ping(ctx) })
	}()
	waitState(t, r, 1, 0) // the first pipeline is in flight, held by the gate
	const n = 5
	results := make([]*redis.IntCmd, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- r.Do(ctx, func(p redis.Pipeliner) {
				if i == 2 {
					results[i] = p.Incr(ctx, prefix+"text") // ERR value is not an integer
				} else {
					results[i] = p.Incr(ctx, prefix+"counter")
				}
			})
		}()
	}
	waitState(t, r, 1, n)
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	for i, c := range results {
		if i == 2 {
			if c.Err() == nil || !strings.Contains(c.Err().Error(), "not an integer") {
				t.Fatalf("the failing command: %v", c.Err())
			}
			continue
		}
		if c.Err() != nil {
			t.Fatalf("caller %d failed with another's command: %v", i, c.Err())
		}
		got = append(got, c.Val())
	}
	if len(got) != n-1 {
		t.Fatalf("results %v", got)
	}
	if g.sizes[0] != 1 || len(g.sizes) != 2 || g.sizes[1] != n {
		t.Fatalf("pipelines carried %v commands, want [1 %d]", g.sizes, n)
	}
}

// TestRunner_AFailedPipelineFailsOnlyItsOwnCallers: two pipelines in
// flight, one of which breaks as a whole (its connection fails); only the
// callers it carried see the error.
func TestRunner_AFailedPipelineFailsOnlyItsOwnCallers(t *testing.T) {
	rdb, prefix, g := setup(t)
	ctx := context.Background()
	r := New(rdb, 2, 0)
	type out struct {
		cmd *redis.StatusCmd
		err error
	}
	do := func(key string) <-chan out {
		ch := make(chan out, 1)
		go func() {
			var cmd *redis.StatusCmd
			err := r.Do(ctx, func(p redis.Pipeliner) { cmd = p.Set(ctx, key, "v", time.Minute) })
			ch <- out{cmd, err}
		}()
		return ch
	}
	// Two pipelines in flight (both held): one carries the failing caller.
	bad := do(prefix + "fail")
	waitState(t, r, 1, 0)
	good := do(prefix + "ok")
	waitState(t, r, 2, 0)
	// Two more callers queue behind them and share the next pipeline.
	later1, later2 := do(prefix+"later1"), do(prefix+"later2")
	waitState(t, r, 2, 2)
	close(g.release)
	if o := <-bad; o.err != nil || o.cmd.Err() == nil || !strings.Contains(o.cmd.Err().Error(), "injected") {
		t.Fatalf("the failed pipeline's caller: %v %v", o.err, o.cmd.Err())
	}
	for _, ch := range []<-chan out{good, later1, later2} {
		if o := <-ch; o.err != nil || o.cmd.Err() != nil {
			t.Fatalf("a caller of another pipeline failed: %v %v", o.err, o.cmd.Err())
		}
	}
	if n, _ := rdb.Exists(ctx, prefix+"ok", prefix+"later1", prefix+"later2").Result(); n != 3 {
		t.Fatalf("%d of the other callers' writes happened", n)
	}
}

// TestRunner_ACallerThatGivesUpIsNotSent: a caller whose context ended while
// it waited returns at once, and its commands are not sent.
func TestRunner_ACallerThatGivesUpIsNotSent(t *testing.T) {
	rdb, prefix, g := setup(t)
	ctx := context.Background()
	r := New(rdb, 1, 0)
	first := make(chan error, 1)
	go func() { first <- r.Do(ctx, func(p redis.Pipeliner) { p.Ping(ctx) }) }()
	waitState(t, r, 1, 0)
	short, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		gaveUp <- r.Do(short, func(p redis.Pipeliner) { p.Set(ctx, prefix+"abandoned", "v", time.Minute) })
	}()
	waitState(t, r, 1, 1)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want canceled", err)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A later caller runs; the abandoned one never did.
	if err := r.Do(ctx, func(p redis.Pipeliner) { p.Ping(ctx) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, prefix+"abandoned").Result(); n != 0 {
		t.Fatal("an abandoned caller's command was sent")
	}
}
