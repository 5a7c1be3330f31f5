package store_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func recallEvent(t *testing.T, e tether.Entry) tether.RecallEvent {
	t.Helper()
	var ev tether.RecallEvent
	if e.Kind != tether.EntryRecall || json.Unmarshal(e.Event, &ev) != nil {
		t.Fatalf("not a recall entry: %+v", e)
	}
	return ev
}

func TestRecall_ErasesContentEverywhereAndTellsBothTimelinesOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		var commits int
		f, ctx := newFixture(t, db, nil), testCtx(t)
		msgs := store.NewMessageService(db, func() { commits++ }, store.WithRecallWindow(time.Hour))
		convs := store.NewConversationService(db, nil)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := direct(a.ID, b.ID)
		secret := f.send(t, a.ID, b.ID, "the-secret-text")
		other := f.send(t, a.ID, b.ID, "kept")

		m, err := msgs.Recall(ctx, tether.Caller{UserID: a.ID}, secret.ID)
		if err != nil || m.RecalledAt == nil || string(m.Content) != `{}` || m.ID != secret.ID {
			t.Fatalf("recall: %+v %v", m, err)
		}
		stored, err := store.StoredMessageContentForTest(ctx, db, secret.ID)
		if err != nil || stored != `{}` {
			t.Fatalf("stored content after recall %q (%v): the text must be gone from the database", stored, err)
		}
		for _, uid := range []int64{a.ID, b.ID} {
			es := f.entries(t, uid)
			if len(es) != 3 {
				t.Fatalf("user %d: %d entries, want 2 messages and a recall", uid, len(es))
			}
			if ev := recallEvent(t, es[2]); ev.MessageID != secret.ID || ev.SenderID != a.ID || !ev.RecalledAt.Equal(*m.RecalledAt) || es[2].ConversationID != conv {
				t.Fatalf("user %d recall event %+v", uid, ev)
			}
			if got := es[0].Message; got == nil || got.RecalledAt == nil || string(got.Content) != `{}` {
				t.Fatalf("user %d: sync still shows %+v", uid, got)
			}
			h, err := f.msgs.History(ctx, uid, conv, tether.HistoryQuery{})
			if err != nil || len(h.Messages) != 2 || string(h.Messages[1].Content) != `{}` || h.Messages[1].RecalledAt == nil || string(h.Messages[0].Content) != `{"text":"kept"}` {
				t.Fatalf("user %d history %+v %v", uid, h, err)
			}
		}
		// bob had not read it: one unread left (the kept message).
		if c, err := convs.Conversation(ctx, b.ID, conv); err != nil || c.UnreadCount != 1 || c.LastMessage.ID != other.ID {
			t.Fatalf("bob's conversation %+v %v", c, err)
		}
		// Twice: the same message, no second event, no commit.
		again, err := msgs.Recall(ctx, tether.Caller{UserID: a.ID}, secret.ID)
		if err != nil || !again.RecalledAt.Equal(*m.RecalledAt) {
			t.Fatalf("second recall: %+v %v", again, err)
		}
		if n := len(f.entries(t, b.ID)); n != 3 || commits != 1 {
			t.Fatalf("second recall appended (%d entries) or committed (%d)", n, commits)
		}
		// The last message recalled shows as recalled in the list.
		if _, err := msgs.Recall(ctx, tether.Caller{UserID: a.ID}, other.ID); err != nil {
			t.Fatal(err)
		}
		c, err := convs.Conversation(ctx, b.ID, conv)
		if err != nil || c.UnreadCount != 0 || c.LastMessage.RecalledAt == nil || string(c.LastMessage.Content) != `{}` {
			t.Fatalf("after recalling the last message %+v %v", c, err)
		}
	})
}

func TestRecall_OnlyTheSenderWithinTheWindow(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		long := store.NewMessageService(db, nil, store.WithRecallWindow(time.Hour))
		short := store.NewMessageService(db, nil, store.WithRecallWindow(time.Millisecond))
		a, b, c := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
		m := f.send(t, a.ID, b.ID, "1")
		time.Sleep(20 * time.Millisecond)

		_, err := short.Recall(ctx, tether.Caller{UserID: a.ID}, m.ID)
		wantCode(t, err, tether.EFORBIDDEN)
		if want := "a message can be recalled only within 1ms of sending it"; tether.ErrorMessage(err) != want {
			t.Fatalf("message %q, want %q", tether.ErrorMessage(err), want)
		}
		_, err = long.Recall(ctx, tether.Caller{UserID: b.ID}, m.ID) // the recipient
		wantCode(t, err, tether.EFORBIDDEN)
		_, err = long.Recall(ctx, tether.Caller{UserID: c.ID}, m.ID) // cannot see it at all
		wantCode(t, err, tether.ENOTFOUND)
		_, err = long.Recall(ctx, tether.Caller{UserID: a.ID}, m.ID+1000)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = long.Recall(ctx, tether.Caller{UserID: a.ID}, 0)
		wantCode(t, err, tether.EINVALID)
		if n := len(f.entries(t, b.ID)); n != 1 {
			t.Fatalf("refused recalls appended entries: %d", n)
		}
		if _, err := long.Recall(ctx, tether.Caller{UserID: a.ID}, m.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecall_GroupReachesCurrentMembersAndUncountsOnlyUnread(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		msgs := store.NewMessageService(db, nil, store.WithRecallWindow(time.Hour))
		convs := store.NewConversationService(db, nil)
		owner, m1, m2, out := f.user(t, "owner"), f.user(t, "member1"), f.user(t, "member2"), f.user(t, "outsider")
		gid, err := store.MakeGroupForTest(ctx, db, owner.ID, m1.ID, m2.ID)
		if err != nil {
			t.Fatal(err)
		}
		conv := fmt.Sprintf("g:%d", gid)
		m, _, err := msgs.Send(ctx, tether.Caller{UserID: m1.ID}, tether.NewMessage{GroupID: gid, ClientMsgID: "x", Type: tether.MessageText, Content: []byte(`{"text":"oops"}`)})
		if err != nil {
			t.Fatal(err)
		}
		// owner reads it; member2 does not.
		if _, err := convs.MarkRead(ctx, owner.ID, conv, 1); err != nil {
			t.Fatal(err)
		}
		_, err = msgs.Recall(ctx, tether.Caller{UserID: out.ID}, m.ID)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = msgs.Recall(ctx, tether.Caller{UserID: m2.ID}, m.ID)
		wantCode(t, err, tether.EFORBIDDEN)
		if _, err := msgs.Recall(ctx, tether.Caller{UserID: m1.ID}, m.ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			uid     int64
			entries int
		}{{owner.ID, 3}, {m1.ID, 2}, {m2.ID, 2}} {
			es := f.entries(t, tc.uid)
			if len(es) != tc.entries || recallEvent(t, es[len(es)-1]).MessageID != m.ID {
				t.Fatalf("user %d: %+v", tc.uid, es)
			}
			c, err := convs.Conversation(ctx, tc.uid, conv)
			if err != nil || c.UnreadCount != 0 {
				t.Fatalf("user %d: unread %+v %v", tc.uid, c, err)
			}
		}
		if n := len(f.entries(t, out.ID)); n != 0 {
			t.Fatalf("outsider got %d entries", n)
		}
	})
}

// Concurrent recalls of one message (the sender's devices racing) erase it
// once and append exactly one recall entry to each timeline.
func TestRecall_ConcurrentRecallsAppendOneEntry(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		msgs := store.NewMessageService(db, nil, store.WithRecallWindow(time.Hour))
		a, b := f.user(t, "alice"), f.user(t, "bob")
		m := f.send(t, a.ID, b.ID, "1")
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				got, err := msgs.Recall(ctx, tether.Caller{UserID: a.ID}, m.ID)
				if err == nil && got.RecalledAt == nil {
					err = fmt.Errorf("recall %d returned %+v", i, got)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, uid := range []int64{a.ID, b.ID} {
			if es := f.entries(t, uid); len(es) != 2 || es[1].Kind != tether.EntryRecall {
				t.Fatalf("user %d: %+v", uid, es)
			}
		}
	})
}
