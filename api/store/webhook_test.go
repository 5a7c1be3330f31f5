package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func notice(msgID, userID int64) store.OfflineNotice {
	return store.OfflineNotice{MessageID: msgID, UserID: userID, ConversationID: "d:1:2", Message: json.RawMessage(fmt.Sprintf(`{"id":%d}`, msgID))}
}

// claimNotify runs ClaimOutboxNotify once with fn's notices.
func claimNotify(t *testing.T, db *store.DB, notices ...store.OfflineNotice) int {
	t.Helper()
	n, err := db.ClaimOutboxNotify(testCtx(t), 10, func([]store.OutboxRow) ([]store.OfflineNotice, error) { return notices, nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestClaimOutboxNotify_QueuesEachMessageAndUserOnceInTheClaimTransaction(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		m1, m2 := f.send(t, a.ID, b.ID, "1"), f.send(t, a.ID, b.ID, "2")

		// A failed handler keeps the rows and queues nothing.
		_, err := db.ClaimOutboxNotify(ctx, 10, func([]store.OutboxRow) ([]store.OfflineNotice, error) {
			return []store.OfflineNotice{notice(m1.ID, b.ID)}, errors.New("redis down")
		})
		if err == nil {
			t.Fatal("failed handler: no error")
		}
		if n, _ := db.WebhookBacklog(ctx); n != 0 {
			t.Fatalf("failed handler queued %d deliveries", n)
		}
		// The same notice twice in a batch, and again in a later batch (a
		// republished message), is one delivery.
		if n := claimNotify(t, db, notice(m1.ID, b.ID), notice(m1.ID, b.ID), notice(m2.ID, b.ID)); n != 2 {
			t.Fatalf("claimed %d rows, want 2", n)
		}
		f.send(t, a.ID, b.ID, "3")
		claimNotify(t, db, notice(m1.ID, b.ID))
		ds, err := db.WebhookDeliveries(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].MessageID != m1.ID || ds[1].MessageID != m2.ID || ds[0].UserID != b.ID {
			t.Fatalf("deliveries: %+v", ds)
		}
		if ds[0].State != store.WebhookPending || ds[0].Attempts != 0 || string(ds[0].Message) != fmt.Sprintf(`{"id":%d}`, m1.ID) {
			t.Fatalf("delivery: %+v", ds[0])
		}
		// A notice that cannot be sent is refused, rolling the claim back.
		f.send(t, a.ID, b.ID, "4")
		if _, err := db.ClaimOutboxNotify(ctx, 10, func([]store.OutboxRow) ([]store.OfflineNotice, error) {
			return []store.OfflineNotice{{MessageID: 9, UserID: b.ID, Message: []byte("{bad")}}, nil
		}); err == nil {
			t.Fatal("bad notice accepted")
		}
		if left, _ := db.OutboxLen(ctx); left != 1 {
			t.Fatalf("%d outbox rows left, want 1", left)
		}
	})
}

func TestClaimWebhooks_LeasesDueDeliveriesAndMarkIsFencedByAttempt(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		f.send(t, a.ID, b.ID, "1")
		claimNotify(t, db, notice(100, b.ID), notice(101, b.ID))

		ds, err := db.ClaimWebhooks(ctx, 1, time.Hour)
		if err != nil || len(ds) != 1 || ds[0].Attempts != 1 || ds[0].MessageID != 100 {
			t.Fatalf("claim: %+v %v", ds, err)
		}
		first := ds[0]
		// Leased: the next claim gets the other one only.
		ds, err = db.ClaimWebhooks(ctx, 10, time.Hour)
		if err != nil || len(ds) != 1 || ds[0].MessageID != 101 {
			t.Fatalf("second claim: %+v %v", ds, err)
		}
		second := ds[0]
		if ds, _ := db.ClaimWebhooks(ctx, 10, time.Hour); len(ds) != 0 {
			t.Fatalf("leased deliveries claimed again: %+v", ds)
		}
		// Retry due now: claimable again, as attempt 2.
		ok, err := db.MarkWebhook(ctx, first.ID, 1, store.WebhookOutcome{State: store.WebhookPending, RetryAt: time.Now().Add(-time.Millisecond), LastError: "HTTP 500"})
		if err != nil || !ok {
			t.Fatalf("mark retry: %v %v", ok, err)
		}
		ds, err = db.ClaimWebhooks(ctx, 10, time.Millisecond)
		if err != nil || len(ds) != 1 || ds[0].ID != first.ID || ds[0].Attempts != 2 || ds[0].LastError != "HTTP 500" {
			t.Fatalf("claim retry: %+v %v", ds, err)
		}
		// Attempt 2's lease (1ms) runs out and attempt 3 claims it: attempt
		// 2's late outcome is ignored.
		time.Sleep(5 * time.Millisecond)
		ds, err = db.ClaimWebhooks(ctx, 10, time.Hour)
		if err != nil || len(ds) != 1 || ds[0].Attempts != 3 {
			t.Fatalf("claim after lease: %+v %v", ds, err)
		}
		if ok, err := db.MarkWebhook(ctx, first.ID, 2, store.WebhookOutcome{State: store.WebhookFailed}); err != nil || ok {
			t.Fatalf("stale mark applied: %v %v", ok, err)
		}
		if ok, err := db.MarkWebhook(ctx, first.ID, 3, store.WebhookOutcome{State: store.WebhookDelivered}); err != nil || !ok {
			t.Fatalf("mark delivered: %v %v", ok, err)
		}
		// A finished delivery takes no further outcome.
		if ok, _ := db.MarkWebhook(ctx, first.ID, 3, store.WebhookOutcome{State: store.WebhookFailed}); ok {
			t.Fatal("delivered delivery marked failed")
		}
		if _, err := db.MarkWebhook(ctx, first.ID, 3, store.WebhookOutcome{State: "lost"}); err == nil {
			t.Fatal("unknown state accepted")
		}
		// A long error is cut at 512 bytes, never inside a character.
		long := strings.Repeat("x", 511) + "é"
		if ok, _ := db.MarkWebhook(ctx, second.ID, 1, store.WebhookOutcome{State: store.WebhookFailed, LastError: long}); !ok {
			t.Fatal("mark failed with a long error")
		}
		if n, _ := db.WebhookBacklog(ctx); n != 0 {
			t.Fatalf("backlog %d, want 0", n)
		}
		failed, _ := db.WebhookDeliveries(ctx, store.WebhookFailed, 10)
		if len(failed) != 1 || failed[0].LastError != strings.Repeat("x", 511) {
			t.Fatalf("failed: %+v", failed)
		}
		// Pruning removes delivered rows only, once they are old enough.
		if n, err := db.PruneWebhooks(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
			t.Fatalf("prune of recent rows: %d %v", n, err)
		}
		if n, err := db.PruneWebhooks(ctx, time.Now().Add(time.Second), 10); err != nil || n != 1 {
			t.Fatalf("prune: %d %v", n, err)
		}
		if all, _ := db.WebhookDeliveries(ctx, "", 10); len(all) != 1 || all[0].State != store.WebhookFailed {
			t.Fatalf("after prune: %+v", all)
		}
		if _, err := db.ClaimWebhooks(ctx, 0, time.Hour); err == nil {
			t.Fatal("limit 0 accepted")
		}
	})
}

func TestClaimWebhooks_ConcurrentClaimersOnMySQLNeverShareADelivery(t *testing.T) {
	db := openDB(t, store.DriverMySQL)
	f, ctx := newFixture(t, db, nil), testCtx(t)
	a, b := f.user(t, "alice"), f.user(t, "bob")
	f.send(t, a.ID, b.ID, "1")
	const total = 80
	ns := make([]store.OfflineNotice, total)
	for i := range ns {
		ns[i] = notice(int64(1000+i), b.ID)
	}
	claimNotify(t, db, ns...)
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				ds, err := db.ClaimWebhooks(ctx, 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
}

func TestClaimOutboxNotify_SkipsRecipientsWhoMutedTheConversation(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b, c := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
		toBob, toCarol := f.send(t, a.ID, b.ID, "1"), f.send(t, a.ID, c.ID, "2")
		if err := store.MuteConversationForTest(ctx, db, b.ID, toBob.ConversationID, true); err != nil {
			t.Fatal(err)
		}
		// alice muted her conversation with carol: carol is still notified.
		if err := store.MuteConversationForTest(ctx, db, a.ID, toCarol.ConversationID, true); err != nil {
			t.Fatal(err)
		}
		n := func(m *tether.Message, uid int64) store.OfflineNotice {
			return store.OfflineNotice{MessageID: m.ID, UserID: uid, ConversationID: m.ConversationID, Message: json.RawMessage(`{}`)}
		}
		claimNotify(t, db, n(toBob, b.ID), n(toCarol, c.ID))
		ds, err := db.WebhookDeliveries(ctx, "", 10)
		if err != nil || len(ds) != 1 || ds[0].UserID != c.ID {
			t.Fatalf("deliveries %+v %v, want carol's only", ds, err)
		}
		// Unmuted, bob is notified of the next message.
		if err := store.MuteConversationForTest(ctx, db, b.ID, toBob.ConversationID, false); err != nil {
			t.Fatal(err)
		}
		next := f.send(t, a.ID, b.ID, "3")
		claimNotify(t, db, n(next, b.ID))
		if ds, _ := db.WebhookDeliveries(ctx, "", 10); len(ds) != 2 || ds[1].UserID != b.ID || ds[1].MessageID != next.ID {
			t.Fatalf("after unmute: %+v", ds)
		}
	})
}
