package discovery

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
)

type fakeSource struct {
	mu    sync.Mutex
	nodes []route.Info
	err   error
	reads int
}

func (f *fakeSource) ReadyNodes(context.Context) ([]route.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.nodes, f.err
}

func (f *fakeSource) set(nodes []route.Info, err error) {
	f.mu.Lock()
	f.nodes, f.err = nodes, err
	f.mu.Unlock()
}

func TestPushNodes_ReadsTheRegistryOnceASecondAndServesAStaleListThroughAnOutageUpTo30s(t *testing.T) {
	src := &fakeSource{nodes: []route.Info{{ID: "a", TCPAddr: "a:1", WSAddr: "ws://a/ws", Sessions: 5000}, {ID: "b", TCPAddr: "b:1"}}}
	s := New(src)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()

	for range 50 {
		got, err := s.PushNodes(ctx, 4)
		if err != nil || len(got) != 2 || got[0] != (tether.PushNode{ID: "b", TCP: "b:1"}) || got[1].WS != "ws://a/ws" {
			t.Fatalf("%+v %v", got, err)
		}
	}
	if src.reads != 1 {
		t.Fatalf("%d registry reads for 50 answers within a second, want 1", src.reads)
	}
	now = now.Add(Fresh)
	src.set([]route.Info{{ID: "c", TCPAddr: "c:1"}}, nil)
	if got, _ := s.PushNodes(ctx, 4); len(got) != 1 || got[0].ID != "c" || src.reads != 2 {
		t.Fatalf("after a second: %+v (%d reads)", got, src.reads)
	}

	// Redis fails: the last list is handed out for MaxStale, then 503.
	src.set(nil, errors.New("redis: connection refused"))
	now = now.Add(MaxStale - time.Second)
	if got, err := s.PushNodes(ctx, 4); err != nil || len(got) != 1 || got[0].ID != "c" {
		t.Fatalf("during the outage: %+v %v", got, err)
	}
	now = now.Add(2 * time.Second)
	if _, err := s.PushNodes(ctx, 4); tether.ErrorCode(err) != tether.EUNAVAILABLE {
		t.Fatalf("after MaxStale: %v, want unavailable", err)
	}
	// Never read: unavailable at once.
	if _, err := New(src).PushNodes(ctx, 4); tether.ErrorCode(err) != tether.EUNAVAILABLE {
		t.Fatalf("first read failing: %v", err)
	}
	for _, bad := range []int{0, -1, tether.MaxPushNodes + 1} {
		if _, err := s.PushNodes(ctx, bad); tether.ErrorCode(err) != tether.EINVALID {
			t.Fatalf("limit %d: %v", bad, err)
		}
	}
}
