package rest

import (
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
)

type pushNodeList struct {
	Nodes []tether.PushNode `json:"nodes"`
}

func TestPushNodes_ReadyNodesLeastLoadedFirstWithBothAddresses(t *testing.T) {
	e := newEnv(t, "sqlite")
	me := e.signup("alice")
	ctx := t.Context()
	for _, n := range []route.Info{
		{ID: "busy", TCPAddr: "10.0.0.1:7070", WSAddr: "wss://busy.example.com/ws", Sessions: 5000},
		{ID: "light", TCPAddr: "10.0.0.2:7070", WSAddr: "wss://light.example.com/ws", Sessions: 100},
		{ID: "tcp-only", TCPAddr: "10.0.0.3:7070", Sessions: 2500},
		{ID: "restarting", TCPAddr: "10.0.0.4:7070", State: route.StateHotRestarting},
	} {
		if err := e.reg.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reg.SetNodeStatus(ctx, route.Info{ID: "leaving", TCPAddr: "10.0.0.5:7070", State: route.StateDraining}); err != nil {
		t.Fatal(err)
	}
	var got pushNodeList
	e.do(req{Method: "GET", Path: "/v1/push-nodes", Token: me.Tokens.AccessToken}).decode(t, 200, &got)
	want := []tether.PushNode{
		{ID: "light", TCP: "10.0.0.2:7070", WS: "wss://light.example.com/ws"},
		{ID: "tcp-only", TCP: "10.0.0.3:7070"},
		{ID: "busy", TCP: "10.0.0.1:7070", WS: "wss://busy.example.com/ws"},
	}
	if len(got.Nodes) != len(want) {
		t.Fatalf("nodes %+v, want %+v", got.Nodes, want)
	}
	for i := range want {
		if got.Nodes[i] != want[i] {
			t.Fatalf("nodes %+v, want %+v", got.Nodes, want)
		}
	}
	e.do(req{Method: "GET", Path: "/v1/push-nodes?limit=1", Token: me.Tokens.AccessToken}).decode(t, 200, &got)
	if len(got.Nodes) != 1 || got.Nodes[0].ID != "light" {
		t.Fatalf("limit 1: %+v", got.Nodes)
	}
}

func TestPushNodes_RefusesBadLimitsAndAnonymousCallers(t *testing.T) {
	e := newEnv(t, "sqlite")
	me := e.signup("alice")
	for _, q := range []string{"?limit=0", "?limit=17", "?limit=x", "?limit=-1"} {
		e.do(req{Method: "GET", Path: "/v1/push-nodes" + q, Token: me.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
	}
	var got pushNodeList
	e.do(req{Method: "GET", Path: "/v1/push-nodes?limit=16", Token: me.Tokens.AccessToken}).decode(t, 200, &got)
	if got.Nodes == nil || len(got.Nodes) != 0 {
		t.Fatalf("no node is ready: want an empty list, got %+v", got.Nodes)
	}
	e.do(req{Method: "GET", Path: "/v1/push-nodes"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
}
