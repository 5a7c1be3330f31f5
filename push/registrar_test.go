package push

import "testing"

func TestRegistrar_RequeueDuringWriteKeepsRouteQueued(t *testing.T) {
	r := newRegistrar(nil)
	c := &conn{}
	r.add(c, 7)
	before := r.snapshot()[0]
	// Redis lost the routes while this write was on its way: the rewrite
	// request must survive the write's completion.
	r.queue(c, pendingState{rewrite: true})
	r.done(c, before.gen)
	after := r.snapshot()
	if len(after) != 1 || !after[0].rewrite || after[0].told != 0 {
		t.Fatalf("after a stale completion: %+v", after)
	}
	r.done(c, after[0].gen)
	if len(r.snapshot()) != 0 {
		t.Fatal("a current completion left the route queued")
	}
}
