package stack

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
)

// A persisted push's acknowledged count moves on PushAck(push_id), as for a
// transient push, and not on the Ack of its entry's version: an Ack says
// "stored", it is cumulative and per device, and a client that synced the
// entry never had it pushed. PROTOCOL.md tells clients to send both.
func TestPushAPI_PersistedPushIsAcknowledgedByPushAckNotByAck(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + c.api.HTTPAddr
	rest := client.NewAPI(base, nil)
	u, err := rest.Register(ctx, "acker", password)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "acker", password, "acker-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := openRaw(t, c.push.PushAddr, tok.AccessToken)
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	var kept, live tether.PushResult
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{u.ID}, "payload": map[string]any{"k": 1}, "persist": true}, &kept); st != 202 {
		t.Fatalf("persisted push: %d", st)
	}
	var version uint64
	for version == 0 {
		f := sess.next(t)
		if f.Type != wire.TypeMessage {
			continue
		}
		var e struct {
			Kind  string `json:"kind"`
			Event struct {
				PushID string `json:"push_id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(f.Message.Body, &e); err != nil || e.Kind != tether.EntryPush || e.Event.PushID != kept.PushID {
			t.Fatalf("entry %s: %v", f.Message.Body, err)
		}
		version = f.Message.Version
	}
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{u.ID}, "payload": map[string]any{"k": 2}}, &live); st != 202 {
		t.Fatalf("transient push: %d", st)
	}
	for f := sess.next(t); f.Type != wire.TypePush; f = sess.next(t) {
	}
	status := func(id string) tether.PushStatus {
		var st tether.PushStatus
		if code := keyCall(t, base, key.Secret, "GET", "/v1/push/"+id, nil, &st); code != 200 {
			t.Fatalf("status of %s: %d", id, code)
		}
		return st
	}

	// Ack the entry's version, then PushAck the transient push: frames are
	// handled in order, so once the second is counted the first was too.
	if _, err := sess.nc.Write(append(wire.AppendAck(nil, version), wire.AppendPushAck(nil, live.PushID)...)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return status(live.PushID).Acknowledged == 1 }, "the transient push's PushAck counted")
	if st := status(kept.PushID); st.Acknowledged != 0 || st.Delivered != 1 {
		t.Fatalf("after Ack(%d) only: %+v, want delivered 1, acknowledged 0", version, st)
	}
	if _, err := sess.nc.Write(wire.AppendPushAck(nil, kept.PushID)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return status(kept.PushID).Acknowledged == 1 }, "the persisted push's PushAck counted")
}
