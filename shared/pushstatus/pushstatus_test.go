package pushstatus

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestStatus_WrittenReadAndCountedButNeverResurrected(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRedis(rdb, prefix)
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	want := Status{KeyID: "k_1", Mode: "transient", CreatedAt: now, ExpiresAt: now.Add(time.Minute), CollapseKey: "ck", Targeted: 3}
	pipe := rdb.Pipeline()
	r.QueueCreate(ctx, pipe, "p_1", want, time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Count(ctx, []Count{{PushID: "p_1", Of: Delivered, N: 2}, {PushID: "p_1", Of: Acknowledged, N: 1}, {PushID: "p_gone", Of: Delivered, N: 1}}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := r.Get(ctx, "p_1")
	want.Delivered, want.Acknowledged = 2, 1
	if err != nil || !ok || got != want {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if ttl := rdb.TTL(ctx, r.Keys().Status("p_1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("status ttl %v", ttl)
	}
	if _, ok, err := r.Get(ctx, "p_gone"); ok || err != nil {
		t.Fatalf("a count resurrected a missing status (ok %v, err %v)", ok, err)
	}
	if n := r.Targeted(ctx, []string{"p_1", "p_gone"}); n["p_1"] != 3 || n["p_gone"] != 0 {
		t.Fatalf("Targeted = %v", n)
	}
}
