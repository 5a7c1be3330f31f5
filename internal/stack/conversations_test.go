package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

// kindAt returns the entry of kind at version v, if the recorder has it.
func (r *recorder) kindAt(kind string, v uint64) *tether.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.entries {
		if e.Kind == kind && e.Version == v {
			return &r.entries[i]
		}
	}
	return nil
}

// A read receipt and a recall reach the live push connection of the other
// user of a 1:1 conversation (no sync needed), and TETHER_RECALL_WINDOW of
// tether dev reaches the message service.
func TestStartDev_ReadReceiptAndRecallReachThePeersPushConnection(t *testing.T) {
	t.Parallel()
	cfg := devConfig(t, t.TempDir())
	cfg.RecallWindow = 1500 * time.Millisecond
	d, err := StartDev(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rest := client.NewAPI("http://"+d.HTTPAddr, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := rest.Register(ctx, u, password); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	var rec recorder
	alice := client.New(client.Config{
		APIBase: "http://" + d.HTTPAddr, PushAddr: d.PushAddr, Username: "alice", Password: password,
		DeviceID: "alice-phone", Handler: rec.handle,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- alice.Run(runCtx) }()
	defer func() { stop(); <-done }()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.Sessions() == 1 }, "alice's push session")

	bob, err := rest.Login(ctx, "bob", password, "bob-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := alice.Send(ctx, bob.UserID, "m-1", tether.MessageText, json.RawMessage(`{"text":"hello bob"}`))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rec.find("hello bob") != nil }, "alice's own message")

	syncs := alice.Stats().Syncs
	conv, err := rest.MarkRead(ctx, bob.AccessToken, msg.ConversationID, 1)
	if err != nil || conv.UnreadCount != 0 || conv.ReadVersion != 1 {
		t.Fatalf("bob marks read: %+v %v", conv, err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rec.kindAt(tether.EntryRead, 2) != nil }, "the read receipt on alice's connection")
	var ev tether.ReadEvent
	if e := rec.kindAt(tether.EntryRead, 2); json.Unmarshal(e.Event, &ev) != nil || ev.ReaderID != bob.UserID || ev.MessageID != msg.ID || ev.Version != 0 || e.ConversationID != msg.ConversationID {
		t.Fatalf("receipt %+v (event %s)", ev, e.Event)
	}
	if s := alice.Stats().Syncs; s != syncs {
		t.Fatalf("alice synced %d times more: the receipt must come by push", s-syncs)
	}

	tok, err := alice.AccessToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rest.Recall(ctx, tok, msg.ID); err != nil {
		t.Fatalf("recall within the window: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rec.kindAt(tether.EntryRecall, 3) != nil }, "the recall on alice's connection")
	var rv tether.RecallEvent
	if e := rec.kindAt(tether.EntryRecall, 3); json.Unmarshal(e.Event, &rv) != nil || rv.MessageID != msg.ID || rv.SenderID != alice.UserID() {
		t.Fatalf("recall event %s", e.Event)
	}
	history, err := rest.History(ctx, bob.AccessToken, msg.ConversationID, tether.HistoryQuery{})
	if err != nil || len(history.Messages) != 1 || string(history.Messages[0].Content) != `{}` {
		t.Fatalf("bob's history after the recall: %+v %v", history, err)
	}

	// The configured window (1.5s), not the default (2m).
	late, _, err := alice.Send(ctx, bob.UserID, "m-2", tether.MessageText, json.RawMessage(`{"text":"too late"}`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1600 * time.Millisecond)
	if _, err := rest.Recall(ctx, tok, late.ID); client.ErrorCode(err) != tether.EFORBIDDEN {
		t.Fatalf("recall after the window: %v, want forbidden", err)
	}
}
