package route

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestNodes_ListsStatesAndADeadReadyNodeAsDownAndDropsOldStatuses(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	if err := r.Heartbeat(ctx, Info{ID: "a", TCPAddr: "x:1", Sessions: 3}); err != nil {
		t.Fatal(err)
	}
	if err := r.Heartbeat(ctx, Info{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetNodeStatus(ctx, Info{ID: "c", State: StateDraining}); err != nil {
		t.Fatal(err)
	}
	// b dies: its key expires, its status still says ready.
	rdb.Del(ctx, r.Keys().Node("b"))
	// d stopped long ago.
	old, _ := json.Marshal(Info{ID: "d", State: StateStopped, SeenMS: time.Now().Add(-StatusKeep - time.Minute).UnixMilli()})
	rdb.HSet(ctx, r.Keys().NodeStatuses(), "d", old)

	nodes, err := r.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.ID] = n.State
	}
	want := map[string]string{"a": StateReady, "b": StateDown, "c": StateDraining}
	if len(got) != len(want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Fatalf("nodes %v, want %v", got, want)
		}
	}
	if nodes[0].ID != "a" || nodes[0].Sessions != 3 || nodes[0].TCPAddr != "x:1" {
		t.Fatalf("first node %+v", nodes[0])
	}
	if rdb.HExists(ctx, r.Keys().NodeStatuses(), "d").Val() {
		t.Fatal("a status older than StatusKeep was not dropped")
	}
	// The node key itself holds no status fields: relays read it as before.
	var key map[string]any
	_ = json.Unmarshal([]byte(rdb.Get(ctx, r.Keys().Node("a")).Val()), &key)
	if _, ok := key["state"]; ok {
		t.Fatalf("node key carries the status: %v", key)
	}
}
