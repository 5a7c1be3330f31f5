package route

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
)

func TestDiscover_ReadyNodesLeastLoadedFirstNeverDrainingRestartingStoppedOrDown(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	r := NewRegistry(rdb, prefix, time.Minute)
	for _, n := range []Info{
		{ID: "busy", TCPAddr: "10.0.0.1:7070", WSAddr: "ws://10.0.0.1:7071/ws", Sessions: 900},
		{ID: "idle", TCPAddr: "10.0.0.2:7070", Sessions: 10},
		{ID: "middle", TCPAddr: "10.0.0.3:7070", Sessions: 500},
		{ID: "restarting", TCPAddr: "10.0.0.5:7070", State: StateHotRestarting},
		{ID: "dead", TCPAddr: "10.0.0.6:7070"},
	} {
		if err := r.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// Draining and stopped nodes have deleted their key, as Drain and Stop do.
	for _, n := range []Info{{ID: "leaving", TCPAddr: "10.0.0.4:7070", State: StateDraining}, {ID: "gone", TCPAddr: "10.0.0.7:7070", State: StateStopped}} {
		if err := r.SetNodeStatus(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Del(ctx, r.Keys().Node("dead")) // its key expired: down

	got, err := r.Discover(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range got {
		ids = append(ids, n.ID)
	}
	if len(ids) != 3 || ids[0] != "idle" || ids[1] != "middle" || ids[2] != "busy" {
		t.Fatalf("discovered %v, want [idle middle busy]", ids)
	}
	if got[2].WSAddr != "ws://10.0.0.1:7071/ws" || got[2].TCPAddr != "10.0.0.1:7070" {
		t.Fatalf("busy's addresses: %+v", got[2])
	}
	if got, _ := r.Discover(ctx, 1); len(got) != 1 || got[0].ID != "idle" {
		t.Fatalf("limit 1: %+v", got)
	}
	// A node whose hot restart is over is handed out again.
	if err := r.Heartbeat(ctx, Info{ID: "restarting", TCPAddr: "10.0.0.5:7070", Sessions: 1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Discover(ctx, 0); len(got) != 4 || (got[0].ID != "restarting" && got[1].ID != "restarting") { // 1 and 10 sessions: about equal
		t.Fatalf("after the restart: %+v", got)
	}
}

func TestLeastLoaded_SpreadsOverAboutEqualNodesAndPutsLighterOnesFirst(t *testing.T) {
	nodes := []Info{{ID: "a", Sessions: 10_000}, {ID: "b", Sessions: 10_010}, {ID: "c", Sessions: 10_020}, {ID: "heavy", Sessions: 20_000}, {ID: "new", Sessions: 0}}
	firstAfterNew := map[string]int{}
	for range 300 {
		got := LeastLoaded(nodes, 0)
		if len(got) != 5 || got[0].ID != "new" || got[4].ID != "heavy" {
			t.Fatalf("order %v: the empty node first, the heavy one last", got)
		}
		firstAfterNew[got[1].ID]++
	}
	// a, b and c are within one step (5% of the mean): each comes second
	// about a third of the time.
	for _, id := range []string{"a", "b", "c"} {
		if firstAfterNew[id] < 50 {
			t.Fatalf("second place: %v; about-equal nodes must share it", firstAfterNew)
		}
	}
	if got := LeastLoaded(nodes, 2); len(got) != 2 {
		t.Fatalf("limit 2: %v", got)
	}
}
