package route

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

// BenchmarkOnlineDevicesOf200 reads the presence of 200 users, 150 of them
// online with two devices on two live nodes: one pipelined round trip (the
// node liveness is cached).
func BenchmarkOnlineDevicesOf200(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if err := r.Heartbeat(ctx, Info{ID: n}); err != nil {
			b.Fatal(err)
		}
	}
	uids := make([]int64, 200)
	for i := range uids {
		uids[i] = int64(i + 1)
		if i < 150 {
			for j, n := range []string{"n1", "n2"} {
				dev := fmt.Sprint("d", j)
				if _, _, err := r.AddSession(ctx, uids[i], Session{DeviceID: dev, NodeID: n, Platform: "ios", ConnID: dev}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := r.OnlineDevicesOf(ctx, uids)
		if err != nil || len(got) != 150 {
			b.Fatalf("%d online, %v", len(got), err)
		}
	}
}
