package switches_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/switches"
)

func TestFollower_SeesAChangeThroughRedisWithinASecond(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := switches.NewRedisBus(rdb, prefix)
	writer := &switches.Service{Store: switches.NewMemoryStore(), Registry: switches.NewRegistry(switches.Catalogue), Publisher: bus}

	reader := switches.NewRegistry(switches.Catalogue)
	// A source that never answers: only the channel can deliver the change.
	f := &switches.Follower{Registry: reader, Bus: bus, Source: func(context.Context) (*switches.Snapshot, error) { return nil, errors.New("down") }}
	f.Start(ctx)
	go f.Run(ctx)
	time.Sleep(200 * time.Millisecond) // let the subscription start

	start := time.Now()
	if _, err := writer.Set(ctx, switches.Change{Name: switches.Webhook, Value: "off", Actor: "t", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool { return !reader.Bool(switches.Webhook) }, "the reader did not see the change within 1 s")
	t.Logf("propagation delay through Redis pub/sub: %v", time.Since(start))

	latest, err := bus.Latest(ctx)
	if err != nil || latest == nil || latest.Version != 1 {
		t.Fatalf("the Redis hash holds %+v, %v", latest, err)
	}
	// An older snapshot never replaces a newer one in Redis.
	if err := bus.Publish(ctx, &switches.Snapshot{Version: 0}); err != nil {
		t.Fatal(err)
	}
	if latest, _ := bus.Latest(ctx); latest.Version != 1 {
		t.Fatalf("an older publish overwrote the hash: version %d", latest.Version)
	}
}

func TestFollower_ReloadRepairsAPublishThatFailed(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := switches.NewMemoryStore()
	// The writer could not publish (no Publisher at all): only the API
	// follower's reload from the store, and its repair of Redis, carry it.
	writer := &switches.Service{Store: store, Registry: switches.NewRegistry(switches.Catalogue)}
	bus := switches.NewRedisBus(rdb, prefix)
	api := switches.NewRegistry(switches.Catalogue)
	fa := &switches.Follower{Registry: api, Bus: bus, Source: store.Snapshot, Repair: true}
	fa.Start(ctx)
	go fa.Run(ctx)
	node := switches.NewRegistry(switches.Catalogue)
	fn := &switches.Follower{Registry: node, Bus: bus, Source: bus.Latest}
	fn.Start(ctx)
	go fn.Run(ctx)

	if _, err := writer.Set(ctx, switches.Change{Name: switches.GroupFanoutLimit, Value: "500", Actor: "t", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	wait := 3*time.Second + 2*time.Second // one reload interval, and slack for a loaded machine
	testenv.Eventually(t, wait, func() bool { return api.Int(switches.GroupFanoutLimit) == 500 }, "the API reload did not deliver the change")
	testenv.Eventually(t, wait, func() bool { return node.Int(switches.GroupFanoutLimit) == 500 }, "the push node did not get the repaired snapshot")
}

func TestFollower_StartsFromTheLocalFileWhenTheSourceIsDown(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "switches.json")
	down := func(context.Context) (*switches.Snapshot, error) { return nil, errors.New("redis is down") }

	// A first run installs a snapshot, which the follower keeps in the file.
	first := switches.NewRegistry(switches.Catalogue)
	(&switches.Follower{Registry: first, Source: down, File: file}).Start(ctx)
	first.Install(&switches.Snapshot{Version: 3, Switches: []switches.State{{Name: switches.Presence, Value: "off"}}})
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the follower did not write its file: %v", err)
	}

	// A restart during the outage loads it.
	second := switches.NewRegistry(switches.Catalogue)
	(&switches.Follower{Registry: second, Source: down, File: file}).Start(ctx)
	if second.Version() != 3 || second.Bool(switches.Presence) {
		t.Fatalf("after a restart during an outage: version %d, presence %v", second.Version(), second.Bool(switches.Presence))
	}
}

func TestFollower_StartsFromTheLocalFileWhenRedisLostItsData(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "switches.json")
	snap := &switches.Snapshot{Version: 7, Switches: []switches.State{{Name: switches.Broadcast, Value: "off"}}}
	if err := os.WriteFile(file, snap.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := func(context.Context) (*switches.Snapshot, error) { return nil, nil } // Bus.Latest on an empty Redis
	r := switches.NewRegistry(switches.Catalogue)
	(&switches.Follower{Registry: r, Source: empty, File: file}).Start(ctx)
	if r.Version() != 7 || r.Bool(switches.Broadcast) {
		t.Fatalf("version %d, broadcast %v: the file was not loaded", r.Version(), r.Bool(switches.Broadcast))
	}
}
