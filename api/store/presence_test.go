package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// fakeSource is a routing registry in memory.
type fakeSource struct {
	online map[int64]map[string]string
	asked  []int64
	err    error
}

func (f *fakeSource) OnlineDevicesOf(_ context.Context, ids []int64) (map[int64]map[string]string, error) {
	f.asked = append(f.asked, ids...)
	if f.err != nil {
		return nil, f.err
	}
	out := map[int64]map[string]string{}
	for _, id := range ids {
		if d, ok := f.online[id]; ok {
			out[id] = d
		}
	}
	return out, nil
}

func TestPresence_InRequestOrderHidingUsersWhoBlockedTheCaller(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		me, on, off, blocker := f.user(t, "myself"), f.user(t, "online"), f.user(t, "offline"), f.user(t, "blocker")
		social := store.NewSocialService(db)
		if err := social.Block(ctx, blocker.ID, me.ID); err != nil {
			t.Fatal(err)
		}
		// I blocked "on": that does not hide their presence from me.
		if err := social.Block(ctx, me.ID, on.ID); err != nil {
			t.Fatal(err)
		}
		src := &fakeSource{online: map[int64]map[string]string{
			on.ID:      {"web-1": "web", "phone": "ios"},
			blocker.ID: {"phone": "android"},
		}}
		svc := store.NewPresenceService(db, src)
		unknown := int64(999999)
		got, err := svc.Presence(ctx, tether.Caller{UserID: me.ID}, []int64{blocker.ID, on.ID, unknown, off.ID, on.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := []tether.Presence{
			{UserID: blocker.ID, Online: false, Devices: []tether.Device{}},
			{UserID: on.ID, Online: true, Devices: []tether.Device{{ID: "phone", Platform: "ios"}, {ID: "web-1", Platform: "web"}}},
			{UserID: unknown, Online: false, Devices: []tether.Device{}},
			{UserID: off.ID, Online: false, Devices: []tether.Device{}},
			{UserID: on.ID, Online: true, Devices: []tether.Device{{ID: "phone", Platform: "ios"}, {ID: "web-1", Platform: "web"}}},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v", got)
		}
		for i := range want {
			if got[i].UserID != want[i].UserID || got[i].Online != want[i].Online || !slices.Equal(got[i].Devices, want[i].Devices) {
				t.Fatalf("presence[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		if slices.Contains(src.asked, blocker.ID) {
			t.Fatalf("the registry was asked about a user who blocked the caller: %v", src.asked)
		}
		if len(src.asked) != 3 {
			t.Fatalf("registry asked about %v, want each visible user once", src.asked)
		}
	})
}

func TestPresence_RefusesBadListsAndReportsAnUnavailableRegistry(t *testing.T) {
	db := openDB(t, store.DriverSQLite)
	ctx := testCtx(t)
	src := &fakeSource{}
	svc := store.NewPresenceService(db, src)
	me := tether.Caller{UserID: 1}
	_, err := svc.Presence(ctx, me, nil)
	wantCode(t, err, tether.EINVALID)
	_, err = svc.Presence(ctx, me, make([]int64, tether.MaxPresenceUsers+1))
	wantCode(t, err, tether.EINVALID)
	_, err = svc.Presence(ctx, me, []int64{3, 0})
	wantCode(t, err, tether.EINVALID)
	_, err = svc.Presence(ctx, tether.Caller{}, []int64{3})
	wantCode(t, err, tether.EUNAUTHORIZED)
	ids := make([]int64, tether.MaxPresenceUsers)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if got, err := svc.Presence(ctx, me, ids); err != nil || len(got) != tether.MaxPresenceUsers {
		t.Fatalf("%d users: %d answers, %v", len(ids), len(got), err)
	}
	src.err = errors.New("redis down")
	_, err = svc.Presence(ctx, me, []int64{3})
	wantCode(t, err, tether.EUNAVAILABLE)
}
