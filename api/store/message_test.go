package store_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func TestSend_RetryCreatesNoSecondMessage(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		var commits atomic.Int32
		f, ctx := newFixture(t, db, func() { commits.Add(1) }), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		first := f.send(t, a.ID, b.ID, "c1")
		again, created, err := f.msgs.Send(ctx, tether.Caller{UserID: a.ID}, tether.NewMessage{
			RecipientID: b.ID, ClientMsgID: "c1", Type: tether.MessageText, Content: []byte(`{"text":"c1"}`),
		})
		if err != nil || created {
			t.Fatalf("retry: created=%v err=%v", created, err)
		}
		if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) || string(again.Content) != string(first.Content) {
			t.Fatalf("retry returned %+v, want %+v", again, first)
		}
		page, err := f.msgs.Sync(ctx, b.ID, 0, 0)
		if err != nil || len(page.Entries) != 1 || page.HeadVersion != 1 {
			t.Fatalf("recipient timeline: %+v %v", page, err)
		}
		if commits.Load() != 1 {
			t.Fatalf("onCommit called %d times, want 1", commits.Load())
		}
		if n, _ := db.OutboxLen(ctx); n != 1 {
			t.Fatalf("outbox rows: %d, want 1", n)
		}
	})
}

func TestSend_ConcurrentRetriesCreateOneMessage(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		const n = 20
		var wg sync.WaitGroup
		ids := make([]int64, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				m, c, err := f.msgs.Send(ctx, tether.Caller{UserID: a.ID}, tether.NewMessage{
					RecipientID: b.ID, ClientMsgID: "same", Type: tether.MessageText, Content: []byte(`{"text":"hi"}`),
				})
				errs[i], created[i] = err, c
				if m != nil {
					ids[i] = m.ID
				}
			})
		}
		wg.Wait()
		nCreated := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("send %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("send %d returned message %d, others %d", i, ids[i], ids[0])
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Fatalf("%d sends report created, want 1", nCreated)
		}
		for _, uid := range []int64{a.ID, b.ID} {
			page, err := f.msgs.Sync(ctx, uid, 0, 0)
			if err != nil || len(page.Entries) != 1 || page.HeadVersion != 1 {
				t.Fatalf("timeline of %d: %+v %v", uid, page, err)
			}
		}
	})
}

func TestSend_VersionsAreGapFreePerUserUnderConcurrentSenders(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		const senders, each = 8, 50
		rcpt := f.user(t, "rcpt")
		from := make([]*tether.User, senders)
		for i := range from {
			from[i] = f.user(t, fmt.Sprintf("sender%d", i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for _, s := range from {
			wg.Go(func() {
				for j := range each {
					_, _, err := f.msgs.Send(ctx, tether.Caller{UserID: s.ID}, tether.NewMessage{
						RecipientID: rcpt.ID, ClientMsgID: fmt.Sprint(j), Type: tether.MessageText, Content: []byte(`{"text":"x"}`),
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		check := func(uid int64, want int) {
			t.Helper()
			var got []uint64
			seenMsg := map[int64]bool{}
			since := uint64(0)
			for {
				page, err := f.msgs.Sync(ctx, uid, since, tether.MaxPageSize)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Entries {
					got = append(got, e.Version)
					if e.Message == nil || seenMsg[e.Message.ID] {
						t.Fatalf("user %d: entry %d has missing or repeated message", uid, e.Version)
					}
					seenMsg[e.Message.ID] = true
				}
				since = page.NextSince
				if !page.HasMore {
					if page.HeadVersion != uint64(want) {
						t.Fatalf("user %d head %d, want %d", uid, page.HeadVersion, want)
					}
					break
				}
			}
			if len(got) != want {
				t.Fatalf("user %d has %d entries, want %d", uid, len(got), want)
			}
			for i, v := range got {
				if v != uint64(i+1) {
					t.Fatalf("user %d: version #%d is %d (want 1..%d without gaps)", uid, i, v, want)
				}
			}
		}
		check(rcpt.ID, senders*each)
		for _, s := range from {
			check(s.ID, each)
		}
	})
}

func TestSend_RejectsBadInput(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		ok := tether.NewMessage{RecipientID: b.ID, ClientMsgID: "c", Type: tether.MessageText, Content: []byte(`{"text":"x"}`)}
		for _, c := range []struct {
			name string
			edit func(m *tether.NewMessage)
			code string
		}{
			{"unknown recipient", func(m *tether.NewMessage) { m.RecipientID = b.ID + 1000 }, tether.ENOTFOUND},
			{"zero recipient", func(m *tether.NewMessage) { m.RecipientID = 0 }, tether.EINVALID},
			{"to self", func(m *tether.NewMessage) { m.RecipientID = a.ID }, tether.EINVALID},
			{"empty client id", func(m *tether.NewMessage) { m.ClientMsgID = "" }, tether.EINVALID},
			{"long client id", func(m *tether.NewMessage) { m.ClientMsgID = strings.Repeat("c", tether.MaxClientMsgID+1) }, tether.EINVALID},
			{"control char client id", func(m *tether.NewMessage) { m.ClientMsgID = "a\x00b" }, tether.EINVALID},
			{"unknown type", func(m *tether.NewMessage) { m.Type = "video" }, tether.EINVALID},
			{"empty content", func(m *tether.NewMessage) { m.Content = nil }, tether.EINVALID},
			{"invalid json", func(m *tether.NewMessage) { m.Content = []byte(`{"text":`) }, tether.EINVALID},
			{"too large", func(m *tether.NewMessage) {
				m.Content = []byte(`{"text":"` + strings.Repeat("x", tether.MaxContentBytes) + `"}`)
			}, tether.ETOOLARGE},
			{"lone surrogate", func(m *tether.NewMessage) { m.Content = []byte(`{"text":"\udbff"}`) }, tether.EINVALID},
			{"invalid UTF-8", func(m *tether.NewMessage) { m.Content = []byte("{\"text\":\"\xc3\x28\"}") }, tether.EINVALID},
			{"nested too deep", func(m *tether.NewMessage) {
				m.Type = tether.MessageCustom
				m.Content = []byte(strings.Repeat(`{"a":`, tether.MaxJSONDepth) + "{}" + strings.Repeat("}", tether.MaxJSONDepth))
			}, tether.EINVALID},
		} {
			m := ok
			c.edit(&m)
			_, _, err := f.msgs.Send(ctx, tether.Caller{UserID: a.ID}, m)
			t.Run(c.name, func(t *testing.T) { wantCode(t, err, c.code) })
		}
		_, _, err := f.msgs.Send(ctx, tether.Caller{}, ok)
		wantCode(t, err, tether.EUNAUTHORIZED)
		if n, _ := db.OutboxLen(ctx); n != 0 {
			t.Fatalf("rejected sends left %d outbox rows", n)
		}
	})
}

func TestSend_QueuesOneOutboxRowWithTheClientEntryAndBothTargets(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		f.send(t, b.ID, a.ID, "warmup") // versions now differ between the two users
		if _, err := db.ClaimOutbox(ctx, 10, func([]store.OutboxRow) error { return nil }); err != nil {
			t.Fatal(err)
		}
		m := f.send(t, a.ID, b.ID, "c1")
		if m.ConversationID != fmt.Sprintf("d:%d:%d", min(a.ID, b.ID), max(a.ID, b.ID)) {
			t.Fatalf("conversation id %q", m.ConversationID)
		}
		var rows []store.OutboxRow
		n, err := db.ClaimOutbox(ctx, 10, func(r []store.OutboxRow) error { rows = r; return nil })
		if err != nil || n != 1 {
			t.Fatalf("claim: n=%d err=%v", n, err)
		}
		p, err := rows[0].Decode()
		if err != nil {
			t.Fatal(err)
		}
		// The body is exactly what Sync returns for the entry, minus the version.
		page, err := f.msgs.Sync(ctx, b.ID, 1, 0)
		if err != nil || len(page.Entries) != 1 {
			t.Fatalf("sync: %+v %v", page, err)
		}
		want, _ := json.Marshal(struct {
			Kind           string          `json:"kind"`
			ConversationID string          `json:"conversation_id"`
			Message        *tether.Message `json:"message"`
		}{tether.EntryMessage, page.Entries[0].ConversationID, page.Entries[0].Message})
		if string(p.Body) != string(want) {
			t.Fatalf("body\n got %s\nwant %s", p.Body, want)
		}
		slices.SortFunc(p.Targets, func(x, y store.OutboxTarget) int { return int(x.UserID - y.UserID) })
		wantTargets := []store.OutboxTarget{{UserID: a.ID, Version: 2}, {UserID: b.ID, Version: 2}}
		if !slices.Equal(p.Targets, wantTargets) || p.Kind != tether.EntryMessage {
			t.Fatalf("payload %+v, want targets %+v", p, wantTargets)
		}
		if n, _ := db.OutboxLen(ctx); n != 0 {
			t.Fatalf("claimed rows not deleted: %d left", n)
		}
	})
}

func TestSync_PagingReturnsEveryEntryExactlyOnceInOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		var sent []int64
		for i := range 23 {
			if i%2 == 0 {
				sent = append(sent, f.send(t, a.ID, b.ID, fmt.Sprint("a", i)).ID)
			} else {
				sent = append(sent, f.send(t, b.ID, a.ID, fmt.Sprint("b", i)).ID)
			}
		}
		var got []int64
		since, pages := uint64(0), 0
		for {
			page, err := f.msgs.Sync(ctx, b.ID, since, 5)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Entries) > 5 || page.HeadVersion != 23 {
				t.Fatalf("page %+v", page)
			}
			for _, e := range page.Entries {
				if e.Version != since+1 || e.Kind != tether.EntryMessage {
					t.Fatalf("entry version %d after %d", e.Version, since)
				}
				since = e.Version
				got = append(got, e.Message.ID)
			}
			if page.NextSince != since {
				t.Fatalf("next_since %d, want %d", page.NextSince, since)
			}
			if !page.HasMore {
				break
			}
		}
		if !slices.Equal(got, sent) || pages != 5 {
			t.Fatalf("got %v in %d pages, want %v in 5", got, pages, sent)
		}
	})
}

func TestSync_SinceAtOrBeyondHeadIsEmpty(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		f.send(t, a.ID, b.ID, "c1")
		for _, since := range []uint64{1, 2, 1 << 62} {
			page, err := f.msgs.Sync(ctx, b.ID, since, 0)
			if err != nil || len(page.Entries) != 0 || page.HasMore || page.NextSince != since || page.HeadVersion != 1 {
				t.Fatalf("since %d: %+v %v", since, page, err)
			}
		}
		// A user with no entries has head 0.
		c := f.user(t, "carol")
		page, err := f.msgs.Sync(ctx, c.ID, 0, 0)
		if err != nil || len(page.Entries) != 0 || page.HeadVersion != 0 || page.Entries == nil {
			t.Fatalf("empty timeline: %+v %v", page, err)
		}
	})
}

func TestHistory_PagesBackwardsAndForwards(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b, c := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
		var ids []int64
		for i := range 7 {
			ids = append(ids, f.send(t, a.ID, b.ID, fmt.Sprint(i)).ID)
			f.send(t, a.ID, c.ID, fmt.Sprint("other", i)) // another conversation, never returned
		}
		conv := fmt.Sprintf("d:%d:%d", min(a.ID, b.ID), max(a.ID, b.ID))
		read := func(q tether.HistoryQuery) ([]int64, string) {
			t.Helper()
			p, err := f.msgs.History(ctx, b.ID, conv, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, m := range p.Messages {
				if m.ConversationID != conv {
					t.Fatalf("message of %s in %s", m.ConversationID, conv)
				}
				out = append(out, m.ID)
			}
			return out, p.NextCursor
		}
		// Newest page, then backwards.
		var back []int64
		page, cur := read(tether.HistoryQuery{Limit: 3})
		back = append(back, page...)
		for cur != "" {
			page, cur = read(tether.HistoryQuery{Before: cur, Limit: 3})
			back = append(back, page...)
		}
		rev := slices.Clone(ids)
		slices.Reverse(rev)
		if !slices.Equal(back, rev) {
			t.Fatalf("backwards %v, want %v", back, rev)
		}
		// Forwards from a cursor: the newest 6 end at ids[1], whose cursor continues after it.
		_, atSecond := read(tether.HistoryQuery{Limit: 6})
		var fwd []int64
		page, cur = read(tether.HistoryQuery{After: atSecond, Limit: 2})
		fwd = append(fwd, page...)
		for cur != "" {
			page, cur = read(tether.HistoryQuery{After: cur, Limit: 2})
			fwd = append(fwd, page...)
		}
		if !slices.Equal(fwd, ids[2:]) {
			t.Fatalf("forwards %v, want %v", fwd, ids[2:])
		}
	})
}

func TestHistory_OnlyParticipantsMayRead(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b, c := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
		f.send(t, a.ID, b.ID, "secret")
		conv := fmt.Sprintf("d:%d:%d", min(a.ID, b.ID), max(a.ID, b.ID))
		_, err := f.msgs.History(ctx, c.ID, conv, tether.HistoryQuery{})
		wantCode(t, err, tether.ENOTFOUND)
		for _, uid := range []int64{a.ID, b.ID} {
			p, err := f.msgs.History(ctx, uid, conv, tether.HistoryQuery{})
			if err != nil || len(p.Messages) != 1 || p.NextCursor != "" {
				t.Fatalf("participant %d: %+v %v", uid, p, err)
			}
		}
	})
}

func TestHistory_RejectsBadConversationAndCursor(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := fmt.Sprintf("d:%d:%d", min(a.ID, b.ID), max(a.ID, b.ID))
		for _, bad := range []string{"", "d:1", "g:1:2", fmt.Sprintf("d:%d:%d", max(a.ID, b.ID), min(a.ID, b.ID)), fmt.Sprintf("d:0%d:%d", min(a.ID, b.ID), max(a.ID, b.ID))} {
			_, err := f.msgs.History(ctx, a.ID, bad, tether.HistoryQuery{})
			wantCode(t, err, tether.EINVALID)
		}
		for _, q := range []tether.HistoryQuery{
			{Before: "!!!"},
			{After: "bm90LWEtY3Vyc29y"}, // base64 of a non-cursor
			{Before: strings.Repeat("A", 100)},
			{Before: "bTE", After: "bTE"},
		} {
			_, err := f.msgs.History(ctx, a.ID, conv, q)
			wantCode(t, err, tether.EINVALID)
		}
	})
}

func TestSend_CreatesMissingTimelineHeads(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		if err := store.DeleteTimelineHeadsForTest(ctx, db); err != nil {
			t.Fatal(err)
		}
		f.send(t, a.ID, b.ID, "c1")
		f.send(t, b.ID, a.ID, "c2")
		page, err := f.msgs.Sync(ctx, a.ID, 0, 0)
		if err != nil || page.HeadVersion != 2 || len(page.Entries) != 2 {
			t.Fatalf("timeline: %+v %v", page, err)
		}
	})
}
