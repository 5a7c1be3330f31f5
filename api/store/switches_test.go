package store_test

import (
	"sync"
	"testing"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/switches"
)

func TestSwitchStore_SetKeepsHistoryAndSnapshotVersion(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		svc := &switches.Service{Store: store.NewSwitchStore(db), Registry: switches.NewRegistry(switches.Catalogue)}
		p := 5.0
		if _, err := svc.Set(ctx, switches.Change{Name: switches.Presence, Value: "off", Actor: "ops", Reason: "incident 12"}); err != nil {
			t.Fatal(err)
		}
		rec, err := svc.Set(ctx, switches.Change{Name: switches.Presence, Value: "on", Actor: "ops", Reason: "gray release",
			Rules: &switches.Rules{Percent: &p, Platforms: []string{"ios"}, AllowUsers: []int64{7}}})
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != 2 || rec.OldValue != "off" || rec.NewValue != "on" || rec.NewRules == nil || *rec.NewRules.Percent != 5 {
			t.Fatalf("record %+v", rec)
		}
		snap, err := svc.Store.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version != 2 || len(snap.Switches) != 1 || snap.Switches[0].Value != "on" || snap.Switches[0].UpdatedBy != "ops" {
			t.Fatalf("snapshot %+v", snap)
		}
		if !svc.Registry.Enabled(switches.Presence, switches.Subject{UserID: 7}) || svc.Registry.Version() != 2 {
			t.Fatal("the writer's registry did not install its own change")
		}
		h, err := svc.Store.History(ctx, switches.Presence, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2 || h[0].Reason != "gray release" || h[1].OldValue != "" || h[1].Reason != "incident 12" {
			t.Fatalf("history %+v", h)
		}
	})
}

func TestSwitchStore_ConcurrentChangesGetDistinctOrderedVersions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		ctx := testCtx(t)
		st := store.NewSwitchStore(db)
		var wg sync.WaitGroup
		names := []string{switches.Presence, switches.Signals, switches.Webhook, switches.Broadcast}
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.Set(ctx, switches.Change{Name: names[i%len(names)], Value: "off", Actor: "t", Reason: "r"}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		snap, _ := st.Snapshot(ctx)
		h, _ := st.History(ctx, "", 100)
		if snap.Version != 8 || len(h) != 8 || h[0].ID != 8 || h[7].ID != 1 {
			t.Fatalf("version %d, %d changes", snap.Version, len(h))
		}
	})
}
