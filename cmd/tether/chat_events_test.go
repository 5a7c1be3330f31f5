package main

import (
	"context"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
)

// Read receipts, recalls and persisted pushes print as one line each;
// other kinds by name.
func TestChatDescribe_ReadRecallAndPushEvents(t *testing.T) {
	// A client that never connected: its user id is 0, so every name comes from the cache.
	cli := client.New(client.Config{APIBase: "http://127.0.0.1:1", PushAddr: "127.0.0.1:1", Username: "carol", Password: "unused-password"})
	c := &chat{cli: cli, names: map[int64]string{}, ids: map[string]int64{}}
	c.remember(1, "alice")
	c.remember(2, "bob")
	ctx := context.Background()
	for _, tc := range []struct {
		e    tether.Entry
		want string
	}{
		{tether.Entry{Kind: tether.EntryRead, Event: []byte(`{"reader_id":2,"message_id":17}`)}, "bob read up to message 17"},
		{tether.Entry{Kind: tether.EntryRecall, Event: []byte(`{"message_id":17,"sender_id":1,"recalled_at":"2025-01-02T03:04:05Z"}`)}, "alice recalled message 17"},
		{tether.Entry{Kind: tether.EntryRecall, Event: []byte(`not json`)}, "(recall)"},
		{tether.Entry{Kind: tether.EntryPush, Event: []byte(`{"push_id":"p_1","payload":{"n":2}}`)}, `push p_1: {"n":2}`},
		{tether.Entry{Kind: tether.EntryPush, Event: []byte(`{"push_id":"p_1","collapse_key":"k","collapsed":true}`)}, `push p_1`},
		{tether.Entry{Kind: tether.EntryConversation, Event: []byte(`{"muted":true,"deleted":false}`)}, "(conversation)"},
	} {
		if got := c.describe(ctx, tc.e); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.e.Kind, tc.e.Event, got, tc.want)
		}
	}
}
