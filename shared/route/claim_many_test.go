package route

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
)

func TestClaimMany_EachRequestAsClaimInOnePipeline(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			t.Fatal(err)
		}
	}
	r.AddSession(ctx, 1, Session{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: "c1"})
	r.AddSession(ctx, 1, Session{DeviceID: "tablet", NodeID: "n2", Platform: "ios", ConnID: "c2"})
	r.AddSession(ctx, 1, Session{DeviceID: "old", NodeID: "dead", Platform: "web", ConnID: "c3"})
	if _, err := r.Announce(ctx, map[int64]uint64{1: 9}); err != nil {
		t.Fatal(err)
	}
	pipelines := 0
	rdb.AddHook(countPipelines{&pipelines})

	s := Session{DeviceID: "phone", NodeID: "n2", Platform: "ios", ConnID: "c4"}
	reqs := []ClaimRequest{
		{UserID: 1, Session: s},
		{UserID: 2, Session: Session{DeviceID: "d", NodeID: "n1", ConnID: "x"}},
		{UserID: 1, Session: s}, // a retry in the same batch: only the others
	}
	out := make([]ClaimResult, len(reqs))
	r.ClaimMany(ctx, reqs, out)
	if pipelines != 1 {
		t.Fatalf("%d pipelines for one batch, want 1", pipelines)
	}
	a := out[0]
	sort.Slice(a.Prev, func(i, j int) bool { return a.Prev[i].ConnID < a.Prev[j].ConnID })
	if a.Err != nil || !a.OK || a.Version != 9 || len(a.Prev) != 2 || a.Prev[0].ConnID != "c1" || a.Prev[1].ConnID != "c2" {
		t.Fatalf("first claim = %+v (the dead node's route must be left out)", a)
	}
	if b := out[1]; b.Err != nil || b.OK || b.Prev != nil {
		t.Fatalf("fresh user = %+v", b)
	}
	if c := out[2]; c.Err != nil || len(c.Prev) != 1 || c.Prev[0].ConnID != "c2" {
		t.Fatalf("retry = %+v", c)
	}
	if got := rdb.HGet(ctx, r.Keys().Route(1), "phone").Val(); got != s.value() {
		t.Fatalf("route = %q", got)
	}
}

func TestClaimMany_RedisDownFailsEveryRequest(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = down.Close() })
	r := NewRegistry(down, testenv.Name("p")+":", time.Minute)
	out := make([]ClaimResult, 2)
	r.ClaimMany(context.Background(), []ClaimRequest{{UserID: 1, Session: Session{DeviceID: "a"}}, {UserID: 2, Session: Session{DeviceID: "b"}}}, out)
	for i, o := range out {
		if o.Err == nil {
			t.Fatalf("request %d: %+v, want an error", i, o)
		}
	}
}

// countPipelines counts the pipelines a client executes.
type countPipelines struct{ n *int }

func (countPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (countPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h countPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		*h.n++
		return next(ctx, cmds)
	}
}
