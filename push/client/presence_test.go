package client

import (
	"context"
	"testing"

	"github.com/tetherim/tether"
)

func TestAPI_PresenceAsksForTheListAndDecodesUsers(t *testing.T) {
	a, rs := serve(t, fixed(200), `{"users":[{"user_id":2,"online":true,"devices":[{"device_id":"p","platform":"ios"}]},{"user_id":3,"online":false,"devices":[]}]}`)
	got, err := a.Presence(context.Background(), "tok", []int64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "GET" || r.path != "/v1/presence" || r.rawQuery != "user_ids=2,3" || r.auth != "Bearer tok" {
		t.Fatalf("request %+v", r)
	}
	if len(got) != 2 || !got[0].Online || got[0].Devices[0] != (tether.Device{ID: "p", Platform: "ios"}) || got[1].Online || got[1].UserID != 3 {
		t.Fatalf("presence %+v", got)
	}
	if _, err := a.Presence(context.Background(), "tok", nil); err == nil {
		t.Fatal("empty list accepted")
	}
	if _, err := a.Presence(context.Background(), "tok", make([]int64, tether.MaxPresenceUsers+1)); err == nil {
		t.Fatal("201 ids accepted")
	}
}
