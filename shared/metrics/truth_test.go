package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
)

func TestObserve_ClientMistakesAreCountedApartFromServerFailures(t *testing.T) {
	m := New(WithLogger(slog.New(slog.DiscardHandler)))
	m.Observe(LayerHTTP, "/v1/users", time.Millisecond, ClientError(errors.New("conflict")), 0)
	m.Observe(LayerHTTP, "/v1/users", time.Millisecond, fmt.Errorf("wrapped: %w", ClientError(errors.New("invalid"))), 0)
	m.Observe(LayerHTTP, "/v1/users", time.Millisecond, context.Canceled, 0)
	m.Observe(LayerHTTP, "/v1/users", time.Millisecond, errors.New("database down"), 0)
	if got := testutil.ToFloat64(m.errors.WithLabelValues(LayerHTTP, "/v1/users", ClassClient)); got != 3 {
		t.Errorf("client errors = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues(LayerHTTP, "/v1/users", ClassServer)); got != 1 {
		t.Errorf("server errors = %v, want 1", got)
	}
	if ClientError(nil) != nil {
		t.Error("ClientError(nil) is not nil")
	}
}

func TestInstrumentRedis_BlockingReadsAndExpectedAnswersAreNeitherTimeoutsNorErrors(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	m := New(WithLogger(slog.New(slog.DiscardHandler)))
	m.InstrumentRedis(rdb)
	ctx := context.Background()
	stream := prefix + "stream"
	for range 2 { // the second answers BUSYGROUP
		err := rdb.XGroupCreateMkStream(ctx, stream, "g", "$").Err()
		if err != nil && redisErr(err) != nil {
			t.Fatal(err)
		}
	}
	// A fresh script: EVALSHA answers NOSCRIPT, go-redis falls back to EVAL.
	script := redis.NewScript(fmt.Sprintf("return %d", time.Now().UnixNano()))
	if err := script.Run(ctx, rdb, []string{stream}).Err(); err != nil {
		t.Fatal(err)
	}
	// A read blocking 150 ms on an empty stream is not slow: it waited as asked.
	err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Block: 150 * time.Millisecond}).Err()
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("XREADGROUP: %v", err)
	}
	if got := testutil.ToFloat64(m.calls.WithLabelValues(LayerRedis, "xreadgroup_block")); got != 1 {
		t.Fatalf("blocking xreadgroup calls = %v", got)
	}
	if got := testutil.CollectAndCount(m.slow); got != 0 {
		t.Errorf("%d timeout series after a blocking read: xreadgroup_block %v", got, testutil.ToFloat64(m.slow.WithLabelValues(LayerRedis, "xreadgroup_block")))
	}
	if got := testutil.CollectAndCount(m.errors); got != 0 {
		t.Errorf("%d error series after BUSYGROUP, NOSCRIPT and an empty read", got)
	}
	// A real failure still counts.
	_ = rdb.Do(ctx, "no-such-command").Err()
	if got := testutil.ToFloat64(m.errors.WithLabelValues(LayerRedis, "no-such-command", ClassServer)); got != 1 {
		t.Errorf("an unknown command counted as %v server errors", got)
	}
}

func TestRedisBudget_NoneForBlockingReads(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		cmd  redis.Cmder
		want time.Duration
	}{
		{redis.NewStringCmd(ctx, "get", "k"), RedisBudget},
		{redis.NewXStreamSliceCmd(ctx, "xreadgroup", "group", "g", "c", "count", 10, "block", int64(1000), "streams", "s", ">"), 0},
		{redis.NewXStreamSliceCmd(ctx, "xreadgroup", "group", "g", "c", "streams", "s", "0"), RedisBudget},
		{redis.NewXStreamSliceCmd(ctx, "xread", "BLOCK", int64(0), "streams", "s", "$"), 0},
		{redis.NewStringSliceCmd(ctx, "blpop", "a", "b", int64(2)), 0},
	} {
		if got := redisBudget(c.cmd); got != c.want {
			t.Errorf("%v: budget %v, want %v", c.cmd.Args(), got, c.want)
		}
	}
}

// lines decodes the JSON log lines in b.
func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(b)
	for dec.More() {
		var l map[string]any
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestOverrun_OneLinePerUnitPerIntervalWithSuppressedCountAndIDs(t *testing.T) {
	var buf bytes.Buffer
	m := New(WithLogger(slog.New(slog.NewJSONHandler(&buf, nil)).With("node", "n1")))
	now := time.Unix(1_000_000, 0)
	m.overrun.now = func() time.Time { return now }

	ids := []slog.Attr{slog.Int64("user_id", 42), slog.String("conn", "c-7")}
	m.Observe(LayerPush, "hello", 300*time.Millisecond, nil, 100*time.Millisecond, ids...)
	for range 4 { // within the interval: counted, not logged
		now = now.Add(time.Second)
		m.Observe(LayerPush, "hello", 200*time.Millisecond, nil, 100*time.Millisecond, ids...)
	}
	m.Observe(LayerPush, "ping", 50*time.Millisecond, nil, 10*time.Millisecond)   // another unit has its own limit
	m.Observe(LayerPush, "hello", 50*time.Millisecond, nil, 100*time.Millisecond) // within budget: no line
	now = now.Add(OverrunLogEvery)
	m.Observe(LayerPush, "hello", 150*time.Millisecond, ClientError(errors.New("bad token")), 100*time.Millisecond, ids...)

	if got := testutil.ToFloat64(m.slow.WithLabelValues(LayerPush, "hello")); got != 6 {
		t.Errorf("hello timeouts = %v, want 6 (every overrun counts)", got)
	}
	ls := lines(t, &buf)
	if len(ls) != 3 {
		t.Fatalf("%d lines, want 3: %v", len(ls), ls)
	}
	first, ping, later := ls[0], ls[1], ls[2]
	for k, want := range map[string]any{
		"level": "WARN", "layer": "push", "name": "hello", "node": "n1",
		"dur": float64(300 * time.Millisecond), "budget": float64(100 * time.Millisecond),
		"user_id": float64(42), "conn": "c-7",
	} {
		if first[k] != want {
			t.Errorf("first line %s = %v, want %v (line %v)", k, first[k], want, first)
		}
	}
	if _, ok := first["suppressed"]; ok {
		t.Errorf("first line reports suppressed lines: %v", first)
	}
	if ping["name"] != "ping" {
		t.Errorf("second line is %v, want the ping unit's", ping)
	}
	if later["name"] != "hello" || later["suppressed"] != float64(4) || later["class"] != ClassClient {
		t.Errorf("line after the interval = %v, want hello with suppressed 4 and class client", later)
	}
}

func TestIDs_TravelInTheContextAndAccumulate(t *testing.T) {
	ctx := WithIDs(context.Background(), slog.String("request_id", "r1"))
	ctx = WithIDs(ctx, slog.Int64("user_id", 7))
	ids := IDs(ctx)
	if len(ids) != 2 || ids[0].Key != "request_id" || ids[1].Key != "user_id" {
		t.Errorf("ids = %v", ids)
	}
	if IDs(context.Background()) != nil {
		t.Error("a bare context carries ids")
	}
}

func TestFamilies_ListsVectorsWithoutSeries(t *testing.T) {
	m := New()
	names := m.Families()
	for _, want := range []string{"tether_calls_total", "tether_errors_total", "tether_timeouts_total", "tether_call_seconds", "go_goroutines"} {
		if !slices.Contains(names, want) {
			t.Errorf("Families lacks %s: %v", want, names)
		}
	}
}
