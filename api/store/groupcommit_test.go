package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// sendResult is what one Send answered.
type sendResult struct {
	m       *tether.Message
	created bool
	err     error
}

// sendInOrder starts one Send per message, each only once the previous
// one waits in the group commit's queue (or has returned: a send refused
// before it, such as invalid content, never queues), so all of them share
// one batch in this order while the window is long. It returns the
// answers in the same order.
func sendInOrder(t *testing.T, ms tether.MessageService, sends []func() (*tether.Message, bool, error)) []sendResult {
	t.Helper()
	out := make([]sendResult, len(sends))
	var wg sync.WaitGroup
	for i, send := range sends {
		before := store.QueuedSendsForTest(ms)
		returned := make(chan struct{})
		wg.Go(func() {
			defer close(returned)
			m, created, err := send()
			out[i] = sendResult{m, created, err}
		})
	wait:
		for store.QueuedSendsForTest(ms) == before {
			select {
			case <-returned:
				break wait
			case <-time.After(time.Millisecond):
			}
		}
	}
	wg.Wait()
	return out
}

func TestGroupCommit_ARefusedSendFailsNoOtherAndKeepsTheirOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		// One leader and a long window: every send below shares one batch.
		f.msgs = store.NewMessageService(db, nil, store.WithGroupCommit(2*time.Second, 64, 1))
		var batches []int
		var mu sync.Mutex
		store.BeforeCommitForTest(f.msgs, func(n int) error {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, n)
			return nil
		})
		alice, bob, carol, dave := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol"), f.user(t, "dave")
		if err := store.NewSocialService(db).Block(ctx, dave.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		gid, err := store.MakeGroupForTest(ctx, db, carol.ID, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		old := f.send(t, alice.ID, bob.ID, "sent-before")
		mu.Lock()
		batches = nil
		mu.Unlock()

		direct := func(from, to int64, cid, content string) func() (*tether.Message, bool, error) {
			return func() (*tether.Message, bool, error) {
				return f.msgs.Send(ctx, tether.Caller{UserID: from}, tether.NewMessage{RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(content)})
			}
		}
		group := func(from int64, cid string) func() (*tether.Message, bool, error) {
			return func() (*tether.Message, bool, error) {
				return f.msgs.Send(ctx, tether.Caller{UserID: from}, tether.NewMessage{GroupID: gid, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"g"}`)})
			}
		}
		res := sendInOrder(t, f.msgs, []func() (*tether.Message, bool, error){
			direct(alice.ID, bob.ID, "ok-1", `{"text":"1"}`),            // 0: stored
			direct(alice.ID, dave.ID, "blocked", `{"text":"x"}`),        // 1: dave blocked alice
			group(alice.ID, "not-a-member"),                             // 2: alice is not in the group
			direct(alice.ID, bob.ID, "sent-before", `{"text":"again"}`), // 3: a retry: the stored message
			direct(alice.ID, bob.ID, "poison", `{"t":"\ud800"}`),        // 4: invalid content, refused before the batch
			direct(alice.ID, 1<<40, "nobody", `{"text":"x"}`),           // 5: no such recipient
			group(carol.ID, "ok-group"),                                 // 6: stored
			direct(carol.ID, bob.ID, "ok-2", `{"text":"2"}`),            // 7: stored
			direct(alice.ID, bob.ID, "ok-3", `{"text":"3"}`),            // 8: stored
		})
		mu.Lock()
		if !slices.Equal(batches, []int{8}) {
			t.Fatalf("batches %v, want one of the 8 queued sends", batches)
		}
		mu.Unlock()
		wantCode(t, res[1].err, tether.EFORBIDDEN)
		wantCode(t, res[2].err, tether.ENOTFOUND)
		wantCode(t, res[4].err, tether.EINVALID)
		wantCode(t, res[5].err, tether.ENOTFOUND)
		if r := res[3]; r.err != nil || r.created || r.m.ID != old.ID {
			t.Fatalf("retry: %+v, want the stored message %d, not created", r, old.ID)
		}
		stored := []int{0, 6, 7, 8}
		var prev int64
		for _, i := range stored {
			r := res[i]
			if r.err != nil || !r.created {
				t.Fatalf("send %d: created=%v err=%v", i, r.created, r.err)
			}
			if r.m.ID <= prev {
				t.Fatalf("send %d: message id %d after %d: the batch reordered the sends", i, r.m.ID, prev)
			}
			prev = r.m.ID
		}
		// Bob's timeline: the old message, then the stored ones in send order, gap-free.
		page, err := f.msgs.Sync(ctx, bob.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{old.ID, res[0].m.ID, res[6].m.ID, res[7].m.ID, res[8].m.ID}
		var got []int64
		for i, e := range page.Entries {
			if e.Version != uint64(i+1) || e.Message == nil {
				t.Fatalf("bob's entry %d: %+v", i, e)
			}
			got = append(got, e.Message.ID)
		}
		if !slices.Equal(got, want) || page.HeadVersion != uint64(len(want)) {
			t.Fatalf("bob's timeline %v (head %d), want %v", got, page.HeadVersion, want)
		}
		// Alice's: her two messages to bob after the old one; nothing of the refused sends.
		page, err = f.msgs.Sync(ctx, alice.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != 3 || page.Entries[1].Message.ID != res[0].m.ID || page.Entries[2].Message.ID != res[8].m.ID {
			t.Fatalf("alice's timeline %+v", page.Entries)
		}
		// Bob's conversation with alice counts both new messages unread, the last one last.
		c, ok, err := store.ConversationForTest(ctx, db, bob.ID, tether.DirectConversationID(alice.ID, bob.ID))
		if err != nil || !ok || c.UnreadCount != 3 || c.LastMessageID != res[8].m.ID || c.LastVersion != 5 {
			t.Fatalf("bob's conversation with alice: %+v ok=%v err=%v", c, ok, err)
		}
		if page, err := f.msgs.Sync(ctx, dave.ID, 0, 100); err != nil || len(page.Entries) != 0 {
			t.Fatalf("dave got %+v %v", page, err)
		}
	})
}

func TestGroupCommit_ConcurrentSendsAndRetriesStayGapFreeAndIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.msgs = store.NewMessageService(db, nil, store.WithGroupCommit(2*time.Millisecond, 16, 3))
		const users, each = 6, 20
		us := make([]*tether.User, users)
		for i := range us {
			us[i] = f.user(t, fmt.Sprintf("user%d", i))
		}
		// Every sender sends each message twice at once (a retry racing
		// its original), to the next two users in turn.
		type key struct {
			from int
			cid  string
		}
		var mu sync.Mutex
		answers := map[key][]sendResult{}
		var wg sync.WaitGroup
		for i := range us {
			for copy := range 2 {
				wg.Go(func() {
					for j := range each {
						to := us[(i+1+j%2)%users]
						cid := fmt.Sprint(j)
						m, created, err := f.msgs.Send(ctx, tether.Caller{UserID: us[i].ID}, tether.NewMessage{RecipientID: to.ID, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(fmt.Sprintf(`{"text":"%d"}`, copy))})
						mu.Lock()
						answers[key{i, cid}] = append(answers[key{i, cid}], sendResult{m, created, err})
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		for k, rs := range answers {
			if len(rs) != 2 || rs[0].err != nil || rs[1].err != nil {
				t.Fatalf("%+v: %+v", k, rs)
			}
			if rs[0].m.ID != rs[1].m.ID || rs[0].created == rs[1].created {
				t.Fatalf("%+v: a message and its retry answered %+v and %+v: want one message, created once", k, *rs[0].m, *rs[1].m)
			}
		}
		// Every user: sent each and received 2*each/2 ... = 2*each entries, versions 1..n, each message once.
		for _, u := range us {
			page, err := f.msgs.Sync(ctx, u.ID, 0, tether.MaxPageSize)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for i, e := range page.Entries {
				if e.Version != uint64(i+1) || e.Message == nil || seen[e.Message.ID] {
					t.Fatalf("user %d entry #%d: %+v (want versions 1..n without gaps, each message once)", u.ID, i, e)
				}
				seen[e.Message.ID] = true
			}
			if len(page.Entries) != 2*each || page.HeadVersion != 2*each {
				t.Fatalf("user %d: %d entries, head %d, want %d", u.ID, len(page.Entries), page.HeadVersion, 2*each)
			}
		}
	})
}

func TestGroupCommit_ARolledBackBatchLosesNothingItAcknowledged(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		f.msgs = store.NewMessageService(db, nil, store.WithGroupCommit(20*time.Millisecond, 64, 1))
		a, b, c := f.user(t, "alice"), f.user(t, "bob"), f.user(t, "carol")
		// Every transaction of the first round fails at its commit: a crash
		// of the batch. No send may be answered as stored, and nothing of
		// any may be stored.
		var failAll atomic.Bool
		failAll.Store(true)
		var batches, bigBatches atomic.Int64
		store.BeforeCommitForTest(f.msgs, func(n int) error {
			batches.Add(1)
			if n > 1 {
				bigBatches.Add(1)
			}
			if failAll.Load() {
				return errors.New("crash before commit")
			}
			return nil
		})
		send := func(from, to int64, cid string) func() (*tether.Message, bool, error) {
			return func() (*tether.Message, bool, error) {
				return f.msgs.Send(ctx, tether.Caller{UserID: from}, tether.NewMessage{RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"x"}`)})
			}
		}
		round := func() []sendResult {
			return sendInOrder(t, f.msgs, []func() (*tether.Message, bool, error){send(a.ID, b.ID, "1"), send(c.ID, b.ID, "2"), send(b.ID, a.ID, "3")})
		}
		for i, r := range round() {
			if r.err == nil || r.m != nil {
				t.Fatalf("send %d answered %+v after its batch rolled back", i, r)
			}
		}
		if bigBatches.Load() == 0 {
			t.Fatal("the sends never shared a batch")
		}
		for _, u := range []*tether.User{a, b, c} {
			page, err := f.msgs.Sync(ctx, u.ID, 0, 100)
			if err != nil || len(page.Entries) != 0 || page.HeadVersion != 0 {
				t.Fatalf("user %d after the rollback: %+v %v", u.ID, page, err)
			}
		}
		if n, err := db.OutboxLen(ctx); err != nil || n != 0 {
			t.Fatalf("outbox after the rollback: %d %v", n, err)
		}
		// The batch fails once more; each send then runs alone and commits.
		// Every answered send is stored, once, exactly as answered.
		var failed atomic.Bool
		store.BeforeCommitForTest(f.msgs, func(n int) error {
			if n > 1 && !failed.Swap(true) {
				return errors.New("crash before commit")
			}
			return nil
		})
		res := round()
		if !failed.Load() {
			t.Fatal("the second round never shared a batch")
		}
		for i, r := range res {
			if r.err != nil || !r.created {
				t.Fatalf("send %d: %+v", i, r)
			}
		}
		page, err := f.msgs.Sync(ctx, b.ID, 0, 100)
		if err != nil || len(page.Entries) != 3 {
			t.Fatalf("bob: %+v %v", page, err)
		}
		for i, want := range []int64{res[0].m.ID, res[1].m.ID, res[2].m.ID} {
			if page.Entries[i].Message.ID != want || page.Entries[i].Version != uint64(i+1) {
				t.Fatalf("bob's entry %d: %+v, want message %d", i, page.Entries[i], want)
			}
		}
		if n, err := db.OutboxLen(ctx); err != nil || n != 3 {
			t.Fatalf("outbox: %d rows, want 3 (%v)", n, err)
		}
	})
}
