package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
)

// TestNodeBacklog_CountsUndeliveredAndUnacked proves the lag and pending
// entries of a node's stream on Redis and on tether dev's in-process Redis
// (which reports no usable lag, so the entries are counted).
func TestNodeBacklog_CountsUndeliveredAndUnacked(t *testing.T) {
	for _, c := range []struct {
		name string
		rdb  func(t *testing.T) (redis.UniversalClient, string)
	}{
		{"redis", func(t *testing.T) (redis.UniversalClient, string) { return testenv.Redis(t) }},
		{"miniredis", func(t *testing.T) (redis.UniversalClient, string) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			return rdb, "t:"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rdb, prefix := c.rdb(t)
			ctx := context.Background()
			s := NewRedis(rdb, prefix, Caps{})
			if b, err := s.NodeBacklog(ctx, "n1"); err != nil || b != (Backlog{}) {
				t.Fatalf("a stream that does not exist: %+v, %v", b, err)
			}
			src := s.NodeSource("n1")
			if _, err := src.Join(ctx); err != nil {
				t.Fatal(err)
			}
			var jobs []NodeJob
			for i := range 5 {
				jobs = append(jobs, NodeJob{Node: "n1", Job: pushJob(fmt.Sprint("j", i), 1)})
			}
			if err := s.Publish(ctx, jobs); err != nil {
				t.Fatal(err)
			}
			if b, err := s.NodeBacklog(ctx, "n1"); err != nil || b != (Backlog{Lag: 5}) {
				t.Fatalf("5 published, none read: %+v, %v", b, err)
			}
			es, err := src.Read(ctx, false, "", 2, time.Millisecond)
			if err != nil || len(es) != 2 {
				t.Fatalf("read %d, %v", len(es), err)
			}
			if b, err := s.NodeBacklog(ctx, "n1"); err != nil || b != (Backlog{Lag: 3, Pending: 2}) {
				t.Fatalf("2 read, not acked: %+v, %v", b, err)
			}
			if err := src.Ack(ctx, []string{es[0].ID, es[1].ID}); err != nil {
				t.Fatal(err)
			}
			if b, err := s.NodeBacklog(ctx, "n1"); err != nil || b != (Backlog{Lag: 3}) {
				t.Fatalf("2 acked: %+v, %v", b, err)
			}
		})
	}
}
