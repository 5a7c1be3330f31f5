package client

import (
	"context"
	"testing"
)

func TestAPI_ConversationCallsUseTheirRoutes(t *testing.T) {
	conv := `{"id":"d:1:2","type":"direct","peer_id":2,"last_version":4,"read_version":3,"unread_count":1,"muted":true,"updated_at":"2025-01-02T03:04:05Z"}`
	a, rs := serve(t, fixed(200), conv)
	ctx := context.Background()
	c, err := a.MarkRead(ctx, "tok", "d:1:2", 3)
	if err != nil || c.ReadVersion != 3 || c.UnreadCount != 1 || c.PeerID != 2 {
		t.Fatalf("mark read: %+v %v", c, err)
	}
	if r := rs.last(); r.method != "POST" || r.path != "/v1/conversations/d:1:2/read" || r.body["version"] != 3.0 || r.auth != "Bearer tok" {
		t.Fatalf("request %+v", r)
	}
	if _, err := a.MuteConversation(ctx, "tok", "g:7", true); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "PUT" || r.path != "/v1/conversations/g:7/mute" || r.body["muted"] != true {
		t.Fatalf("request %+v", r)
	}
	if _, err := a.Conversation(ctx, "tok", "d:1:2"); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "GET" || r.path != "/v1/conversations/d:1:2" {
		t.Fatalf("request %+v", r)
	}
	if _, err := a.Conversations(ctx, "tok", "YzE", 10); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "GET" || r.path != "/v1/conversations" || r.rawQuery != "cursor=YzE&limit=10" {
		t.Fatalf("request %+v", r)
	}
	if err := a.DeleteConversation(ctx, "tok", "d:1:2"); err != nil {
		t.Fatal(err)
	}
	if r := rs.last(); r.method != "DELETE" || r.path != "/v1/conversations/d:1:2" {
		t.Fatalf("request %+v", r)
	}
	a, rs = serve(t, fixed(200), `{"id":17,"conversation_id":"d:1:2","sender_id":1,"recipient_id":2,"client_msg_id":"c","type":"text","content":{},"created_at":"2025-01-02T03:04:05Z","recalled_at":"2025-01-02T03:04:35Z"}`)
	m, err := a.Recall(ctx, "tok", 17)
	if err != nil || m.RecalledAt == nil || m.ID != 17 {
		t.Fatalf("recall: %+v %v", m, err)
	}
	if r := rs.last(); r.method != "POST" || r.path != "/v1/messages/17/recall" {
		t.Fatalf("request %+v", r)
	}
}

func TestAPI_RecallRefusalIsATypedProblem(t *testing.T) {
	a, _ := serve(t, fixed(403), `{"type":"https://tether.im/problems/forbidden","title":"Forbidden","status":403,"detail":"a message can be recalled only within 2m0s of sending it","code":"forbidden"}`)
	_, err := a.Recall(context.Background(), "tok", 17)
	if ErrorCode(err) != "forbidden" {
		t.Fatalf("got %v", err)
	}
}
