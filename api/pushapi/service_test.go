package pushapi

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// noKeys is an APIKeyService with no keys; these tests need none.
type noKeys struct{ tether.APIKeyService }

func TestTransientPush_JobCarriesItsExpiryAndOnlyMatchingSessions(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	reg := route.NewRegistry(rdb, prefix, 15*time.Second)
	if err := reg.Heartbeat(ctx, route.Info{ID: "n1"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []route.Session{{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: "c1"}, {DeviceID: "web", NodeID: "n1", Platform: "web", ConnID: "c2"}} {
		if _, _, err := reg.AddSession(ctx, 7, s); err != nil {
			t.Fatal(err)
		}
	}
	streams := stream.NewRedis(rdb, prefix, stream.Caps{})
	b := NewRedisBackend(rdb, reg, streams)
	s := New(Config{}, noKeys{}, nil, b, b, nil, nil)
	by := tether.KeyCaller{KeyID: "k_1", Scopes: []string{tether.ScopePush}}
	before := time.Now()
	res, err := s.Push(ctx, by, tether.PushRequest{UserIDs: []int64{7, 8}, Platforms: []string{"ios"}, Payload: json.RawMessage(`{"a": 1}`), TTLSeconds: 30})
	if err != nil || res.Targeted != 1 {
		t.Fatalf("push: %+v %v", res, err)
	}
	msgs, err := rdb.XRange(ctx, streams.Keys().Node("n1"), "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stream: %v %v", msgs, err)
	}
	j, err := job.Decode([]byte(msgs[0].Values[stream.Field].(string)))
	if err != nil {
		t.Fatal(err)
	}
	// The node drops the job after its expiry (job.Job.Expired, push/transient.go),
	// and delivers it to the target users' sessions on the job's platforms.
	exp := time.UnixMilli(j.ExpiresMS)
	if j.Kind != job.KindPush || j.PushID != res.PushID || string(j.Body) != `{"a":1}` || len(j.Targets) != 2 || j.Targets[0] != (job.Target{UserID: 7}) ||
		!slices.Equal(j.Platforms, []string{"ios"}) ||
		exp.Before(before.Truncate(time.Millisecond).Add(30*time.Second)) || exp.After(time.Now().Add(30*time.Second)) {
		t.Fatalf("job %+v (expires in %v)", j, time.Until(exp))
	}
	// Nodes' counts land in the status; a push without a status is not recreated.
	statuses := pushstatus.NewRedis(rdb, prefix)
	if err := statuses.Count(ctx, []pushstatus.Count{{PushID: res.PushID, Of: pushstatus.Delivered, N: 1}, {PushID: "p_gone", Of: pushstatus.Delivered, N: 1}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, by, res.PushID)
	if err != nil || st.Targeted != 1 || st.Delivered != 1 || st.ExpiresAt.Sub(st.CreatedAt) != 30*time.Second {
		t.Fatalf("status %+v %v", st, err)
	}
	if n, _ := rdb.Exists(ctx, statuses.Keys().Status("p_gone")).Result(); n != 0 {
		t.Fatal("a count recreated a missing status")
	}
}

func TestAllow_FailsOpenWhenRedisIsDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	b := NewRedisBackend(rdb, route.NewRegistry(rdb, "x:", time.Second), stream.NewRedis(rdb, "x:", stream.Caps{}))
	s := New(Config{DefaultRateLimit: 1}, noKeys{}, nil, b, b, nil, nil)
	for range 3 {
		if err := s.Allow(context.Background(), tether.KeyCaller{KeyID: "k_1"}, tether.MaxPushBatch); err != nil {
			t.Fatalf("Allow with Redis down: %v", err)
		}
	}
	if got := testutil.ToFloat64(s.limiterDown); got != 3 {
		t.Fatalf("limiter-unavailable counter = %v", got)
	}
}
