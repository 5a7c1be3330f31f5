package push

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/stream"
)

func TestDeliver_JobReachesEveryDeviceOfTargetInOrder(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.StreamBatch = 7 }).on(tr)
		e.start()
		phone, _ := e.connect(11, "phone")
		laptop, _ := e.connect(11, "laptop")
		bystander, _ := e.connect(12, "phone")
		const count = 40
		jobs := make([]job.Job, count)
		for i := range jobs {
			jobs[i] = msgJob("m", jobTarget(11, uint64(i+1)))
		}
		e.push(jobs...)
		for _, c := range []*tclient{phone, laptop} {
			ms := c.messages(count)
			for i, m := range ms {
				var body map[string]any
				if m.Version != uint64(i+1) || json.Unmarshal(m.Body, &body) != nil || body["kind"] != "message" {
					t.Fatalf("message %d: version %d body %s", i, m.Version, m.Body)
				}
			}
		}
		// One job for two users with their own versions, and one for a single device.
		e.push(msgJob("both", jobTarget(11, 41), jobTarget(12, 5)),
			msgJob("laptop only", job.Target{UserID: 11, Version: 42, DeviceID: "laptop"}))
		if ms := bystander.messages(1); ms[0].Version != 5 {
			t.Fatalf("bystander got %s", versions(ms))
		}
		if ms := laptop.messages(2); versions(ms) != "41,42," {
			t.Fatalf("laptop got %s", versions(ms))
		}
		if ms := phone.messages(1); ms[0].Version != 41 {
			t.Fatalf("phone got %s", versions(ms))
		}
		phone.send(wire.AppendPing(nil, []byte{9}))
		if f := phone.read(); f.Type != wire.TypePong {
			t.Fatalf("phone got %s after its messages, want only the pong (no device-targeted leak)", f.Type)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return e.pending() == 0 }, "all entries acked")
		if got := e.counter("tether_calls_total", metrics.LayerJob, string(job.KindMessage)); got != count+2 {
			t.Fatalf("job metric = %v", got)
		}
	})
}

func TestConsumer_PoisonEntryAckedAndLaterEntriesDelivered(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		e.start()
		c, _ := e.connect(13, "d")
		key := e.streams.Keys().Node(e.cfg.NodeID)
		for _, v := range []map[string]any{{stream.Field: "not json"}, {"other": "field"}, {stream.Field: `{"k":"message","t":[]}`}} {
			if err := e.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: v}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		e.push(msgJob("after", jobTarget(13, 1)))
		if ms := c.messages(1); ms[0].Version != 1 {
			t.Fatalf("got %s", versions(ms))
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return e.pending() == 0 }, "poison entries acked")
		if got := e.counter("tether_errors_total", metrics.LayerJob, "invalid"); got != 3 {
			t.Fatalf("invalid job errors = %v, want 3", got)
		}
	})
}

func TestConsumer_PendingEntriesDeliveredAfterRestart(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		first := e.start()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := first.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		// The node crashed after reading these entries and before acking them.
		e.push(msgJob("a", jobTarget(14, 1)), msgJob("b", jobTarget(14, 2)))
		key := e.streams.Keys().Node(e.cfg.NodeID)
		got, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: stream.NodeGroup, Consumer: e.cfg.NodeID,
			Streams: []string{key, ">"}, Count: 10, Block: -1}).Result()
		if err != nil || len(got[0].Messages) != 2 {
			t.Fatalf("claim: %v %v", got, err)
		}
		e.push(msgJob("c", jobTarget(14, 3)))

		second := e.newNode()
		second.consumeGate = make(chan struct{})
		if err := second.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.node = second
		t.Cleanup(func() { _ = second.Stop(context.Background()) })
		c, _ := e.connect(14, "d")
		close(second.consumeGate)
		if ms := c.messages(3); versions(ms) != "1,2,3," {
			t.Fatalf("got %s", versions(ms))
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return e.pending() == 0 }, "pending entries acked")
	})
}
