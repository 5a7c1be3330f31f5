package client

import (
	"context"
	"encoding/json"
	"testing"
)

func TestAPI_AccountCallsUseTheirRoutes(t *testing.T) {
	ctx := context.Background()
	a, rs := serve(t, fixed(204), ``)
	if err := a.Logout(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "POST" || r.path != "/v1/sessions/logout" || r.auth != "Bearer tok" {
		t.Fatalf("logout: %+v", r)
	}
	if err := a.RevokeDevice(ctx, "tok", "s/1"); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "DELETE" || r.path != "/v1/devices/s%2F1" {
		t.Fatalf("revoke device: %+v", r)
	}
	if err := a.ChangePassword(ctx, "tok", "old password", "new password"); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.path != "/v1/account/password" || r.body["old_password"] != "old password" || r.body["new_password"] != "new password" {
		t.Fatalf("change password: %+v", r)
	}

	d, _ := serve(t, fixed(200), `{"devices":[{"session_id":"s1","device_id":"phone","platform":"ios","created_at":"2026-01-01T00:00:00Z","last_used_at":"2026-01-01T00:00:00Z","current":true,"online":false}]}`)
	devs, err := d.Devices(ctx, "tok")
	if err != nil || len(devs) != 1 || devs[0].SessionID != "s1" || !devs[0].Current {
		t.Fatalf("devices: %+v %v", devs, err)
	}

	g, grs := serve(t, fixed(201), `{"id":5,"conversation_id":"g:9","sender_id":1,"group_id":9,"client_msg_id":"c","type":"text","content":{"text":"hi"},"created_at":"2026-01-01T00:00:00Z"}`)
	m, created, err := g.SendToGroup(ctx, "tok", 9, "c", "text", json.RawMessage(`{"text":"hi"}`))
	if err != nil || !created || m.GroupID != 9 {
		t.Fatalf("send to group: %+v %v %v", m, created, err)
	}
	if r := grs.last(); r.body["group_id"] != float64(9) || r.body["recipient_id"] != nil {
		t.Fatalf("send to group body: %+v", r.body)
	}
	if _, _, err := g.SendToGroup(ctx, "tok", 9, "c", "text", json.RawMessage(`{`)); err == nil {
		t.Fatal("invalid content was sent")
	}
}
