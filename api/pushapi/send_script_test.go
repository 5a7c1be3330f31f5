package pushapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/coalesce"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// trips is a hook that counts round trips (a command or a pipeline, not a
// new connection's handshake) and can hold pipelines until released.
type trips struct {
	mu        sync.Mutex
	pipelines [][]string // the command names of each pipeline
	single    []string
	hold      chan struct{} // nil: none held
}

func (h *trips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.single = append(h.single, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if n := cmds[0].Name(); n == "hello" || n == "client" {
			return next(ctx, cmds)
		}
		h.mu.Lock()
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.pipelines = append(h.pipelines, names)
		hold := h.hold
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		return next(ctx, cmds)
	}
}

type scriptEnv struct {
	rdb    *redis.Client
	prefix string
	reg    *route.Registry
	b      *RedisBackend
	s      *Service
	hook   *trips
}

// newScriptEnv is a service on rdb with user 7 online on node n1 (ios).
func newScriptEnv(t *testing.T, rdb *redis.Client, prefix string, rate int) *scriptEnv {
	ctx := context.Background()
	reg := route.NewRegistry(rdb, prefix, 15*time.Second)
	if err := reg.Heartbeat(ctx, route.Info{ID: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.AddSession(ctx, 7, route.Session{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: "c1"}); err != nil {
		t.Fatal(err)
	}
	h := &trips{}
	rdb.AddHook(h)
	b := NewRedisBackend(rdb, reg, stream.NewRedis(rdb, prefix, stream.Caps{}))
	return &scriptEnv{rdb: rdb, prefix: prefix, reg: reg, b: b, s: New(Config{DefaultRateLimit: rate}, noKeys{}, nil, b, b, nil, nil), hook: h}
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:16])
}

var scriptCaller = tether.KeyCaller{KeyID: "k_1", Scopes: []string{tether.ScopePush}}

func pushTo(uid int64, idem string) tether.PushRequest {
	return tether.PushRequest{UserIDs: []int64{uid}, Payload: json.RawMessage(`{"a":1}`), IdempotencyKey: idem}
}

// TestTransientPush_IsOneRoundTripWithRateLimitAndIdempotencyKey: a
// transient push with a rate limit and an idempotency key costs one Redis
// round trip (the send script) once the script is loaded.
func TestTransientPush_IsOneRoundTripWithRateLimitAndIdempotencyKey(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	e := newScriptEnv(t, rdb, prefix, 100)
	ctx := context.Background()
	if _, err := e.s.Push(ctx, scriptCaller, pushTo(7, "")); err != nil { // loads the script if Redis lacks it
		t.Fatal(err)
	}
	e.hook.mu.Lock()
	e.hook.pipelines, e.hook.single = nil, nil
	e.hook.mu.Unlock()
	res, err := e.s.Push(ctx, scriptCaller, pushTo(7, "once"))
	if err != nil || res.Targeted != 1 {
		t.Fatalf("push: %+v %v", res, err)
	}
	items, err := e.s.PushBatch(ctx, scriptCaller, []tether.PushRequest{pushTo(7, ""), pushTo(8, "two")})
	if err != nil || items[0].Err != nil || items[0].Result.Targeted != 1 || items[1].Err != nil || items[1].Result.Targeted != 0 {
		t.Fatalf("batch: %+v %v", items, err)
	}
	e.hook.mu.Lock()
	single, pipelines := e.hook.single, e.hook.pipelines
	e.hook.mu.Unlock()
	if len(single) != 0 || len(pipelines) != 2 || len(pipelines[0]) != 1 || len(pipelines[1]) != 1 {
		t.Fatalf("a push and a batch took commands %v and pipelines %v, want one pipeline of one script each", single, pipelines)
	}
	if n, _ := rdb.XLen(ctx, prefix+"stream:n1").Result(); n != 3 {
		t.Fatalf("node stream holds %d jobs, want 3", n)
	}
}

// TestRateLimit_SharesTheBucketRedisRateKept: the send script spends the
// same bucket, in the same format, as redis_rate did before it (so old and
// new replicas share a key's rate during a rolling upgrade), and a push over
// the rate is refused with the wait before a retry and sends nothing.
func TestRateLimit_SharesTheBucketRedisRateKept(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	e := newScriptEnv(t, rdb, prefix, 1)
	ctx := context.Background()
	l, _ := e.s.limitOf(scriptCaller)
	// An old replica spends the whole burst through redis_rate.
	old := redis_rate.NewLimiter(rdb)
	if res, err := old.AllowN(ctx, prefix+"pushrate:"+scriptCaller.KeyID, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Period}, l.Burst); err != nil || res.Allowed == 0 {
		t.Fatalf("redis_rate: %+v %v", res, err)
	}
	_, err := e.s.Push(ctx, scriptCaller, pushTo(7, ""))
	var te *tether.Error
	if tether.ErrorCode(err) != tether.ERATELIMITED {
		t.Fatalf("push after the burst: %v", err)
	}
	if te, _ = err.(*tether.Error); te == nil || te.RetryAfter <= 0 || te.RetryAfter > time.Second {
		t.Fatalf("retry after %+v", te)
	}
	if n, _ := rdb.XLen(ctx, prefix+"stream:n1").Result(); n != 0 {
		t.Fatal("a refused push was sent")
	}
	// And what the script spends, redis_rate sees.
	time.Sleep(te.RetryAfter)
	if _, err := e.s.Push(ctx, scriptCaller, pushTo(7, "")); err != nil {
		t.Fatalf("push after the wait: %v", err)
	}
	if res, err := old.AllowN(ctx, prefix+"pushrate:"+scriptCaller.KeyID, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Period}, 1); err != nil || res.Allowed != 0 {
		t.Fatalf("redis_rate after the script spent the token: %+v %v", res, err)
	}
}

// TestTransientPush_AFailingPushInASharedPipelineFailsOnlyItself: two
// requests share one pipeline; the one whose script fails in Redis (a
// corrupt route) is 503 unavailable, the other is sent.
func TestTransientPush_AFailingPushInASharedPipelineFailsOnlyItself(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	e := newScriptEnv(t, rdb, prefix, 0)
	ctx := context.Background()
	if err := rdb.Set(ctx, e.reg.Keys().Route(9), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Push(ctx, scriptCaller, pushTo(7, "")); err != nil { // loads the script
		t.Fatal(err)
	}
	// One pipeline in flight at a time, and the next one held: the two
	// requests queue behind it together.
	e.b.pipes = coalesce.New(rdb, 1, 0)
	hold := make(chan struct{})
	e.hook.mu.Lock()
	e.hook.hold, e.hook.pipelines = hold, nil
	e.hook.mu.Unlock()
	first := make(chan error, 1)
	go func() { _, err := e.s.Push(ctx, scriptCaller, pushTo(7, "")); first <- err }()
	testenv.Eventually(t, 5*time.Second, func() bool {
		e.hook.mu.Lock()
		defer e.hook.mu.Unlock()
		return len(e.hook.pipelines) == 1
	}, "the first pipeline never went")
	type out struct {
		res *tether.PushResult
		err error
	}
	bad, good := make(chan out, 1), make(chan out, 1)
	go func() { r, err := e.s.Push(ctx, scriptCaller, pushTo(9, "bad")); bad <- out{r, err} }()
	go func() { r, err := e.s.Push(ctx, scriptCaller, pushTo(7, "good")); good <- out{r, err} }()
	testenv.Eventually(t, 5*time.Second, func() bool {
		return e.b.pipes.Pending() == 2
	}, "the two requests never queued")
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if o := <-bad; tether.ErrorCode(o.err) != tether.EUNAVAILABLE {
		t.Fatalf("the push with a corrupt route: %+v %v", o.res, o.err)
	}
	if o := <-good; o.err != nil || o.res.Targeted != 1 {
		t.Fatalf("the push sharing its pipeline: %+v %v", o.res, o.err)
	}
	e.hook.mu.Lock()
	pipelines := e.hook.pipelines
	e.hook.mu.Unlock()
	if len(pipelines) < 2 || len(pipelines[1]) != 2 {
		t.Fatalf("pipelines %v: the two requests did not share one", pipelines)
	}
	// The failed push's idempotency record was given back: a retry sends.
	if n, _ := rdb.Exists(ctx, prefix+"pushidem:k_1:"+hashKey("bad")).Result(); n != 0 {
		t.Fatal("the failed push kept its idempotency record")
	}
}

// TestTransientPush_SurvivesRedisForgettingTheScript: after SCRIPT FLUSH
// (or a Redis restart) the send script is loaded again and the push goes.
func TestTransientPush_SurvivesRedisForgettingTheScript(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	e := newScriptEnv(t, rdb, "t:", 10)
	ctx := context.Background()
	for range 2 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if res, err := e.s.Push(ctx, scriptCaller, pushTo(7, "")); err != nil || res.Targeted != 1 {
			t.Fatalf("push after SCRIPT FLUSH: %+v %v", res, err)
		}
	}
}
