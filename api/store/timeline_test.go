package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

func TestGroupSend_ReachesEveryMembersTimelineAndConversationList(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := testCtx(t)
		owner, m1, m2, outsider := f.user(t, "owner"), f.user(t, "member1"), f.user(t, "member2"), f.user(t, "outsider")
		// m1 has an older 1:1 entry, so the group message lands at a different version for m1.
		f.send(t, outsider.ID, m1.ID, "before")
		gid, err := store.MakeGroupForTest(ctx, db, owner.ID, m1.ID, m2.ID)
		if err != nil {
			t.Fatal(err)
		}
		send := func(from int64, cid string) (*tether.Message, error) {
			m, _, err := f.msgs.Send(ctx, tether.Caller{UserID: from}, tether.NewMessage{GroupID: gid, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"hi"}`)})
			return m, err
		}
		msg, err := send(owner.ID, "g1")
		if err != nil {
			t.Fatal(err)
		}
		conv := fmt.Sprintf("g:%d", gid)
		if msg.GroupID != gid || msg.RecipientID != 0 || msg.ConversationID != conv {
			t.Fatalf("message %+v", msg)
		}
		for _, tc := range []struct {
			uid     int64
			version uint64
			unread  int64
		}{{owner.ID, 1, 0}, {m1.ID, 2, 1}, {m2.ID, 1, 1}} {
			page, err := f.msgs.Sync(ctx, tc.uid, tc.version-1, 10)
			if err != nil || len(page.Entries) != 1 {
				t.Fatalf("user %d sync: %+v %v", tc.uid, page, err)
			}
			e := page.Entries[0]
			if e.Version != tc.version || e.Kind != tether.EntryMessage || e.ConversationID != conv || e.Message == nil || e.Message.ID != msg.ID {
				t.Fatalf("user %d entry %+v", tc.uid, e)
			}
			c, ok, err := store.ConversationForTest(ctx, db, tc.uid, conv)
			if err != nil || !ok {
				t.Fatalf("user %d conversation: %v %v", tc.uid, ok, err)
			}
			if c.UnreadCount != tc.unread || c.LastMessageID != msg.ID || c.LastVersion != tc.version || c.GroupID != gid {
				t.Fatalf("user %d conversation %+v", tc.uid, c)
			}
		}
		// A second message counts up for the others; the sender has read it all.
		if _, err := send(m1.ID, "g2"); err != nil {
			t.Fatal(err)
		}
		if c, _, _ := store.ConversationForTest(ctx, db, owner.ID, conv); c.UnreadCount != 1 {
			t.Fatalf("owner unread %d, want 1", c.UnreadCount)
		}
		if c, _, _ := store.ConversationForTest(ctx, db, m1.ID, conv); c.UnreadCount != 0 || c.ReadVersion != 3 {
			t.Fatalf("m1 after sending: %+v, want unread 0, read_version 3", c)
		}
		if c, _, _ := store.ConversationForTest(ctx, db, m2.ID, conv); c.UnreadCount != 2 {
			t.Fatalf("m2 unread %d, want 2", c.UnreadCount)
		}
		// Non-members learn nothing; muted members are refused.
		_, err = send(outsider.ID, "x")
		wantCode(t, err, tether.ENOTFOUND)
		if _, err := f.msgs.History(ctx, outsider.ID, conv, tether.HistoryQuery{}); tether.ErrorCode(err) != tether.ENOTFOUND {
			t.Fatalf("outsider history: %v", err)
		}
		if page, err := f.msgs.History(ctx, m2.ID, conv, tether.HistoryQuery{}); err != nil || len(page.Messages) != 2 {
			t.Fatalf("member history: %+v %v", page, err)
		}
		if err := store.MuteGroupMemberForTest(ctx, db, gid, m2.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, err = send(m2.ID, "muted")
		wantCode(t, err, tether.EFORBIDDEN)
		// A deleted conversation comes back with the next message.
		if err := store.HideConversationForTest(ctx, db, m2.ID, conv); err != nil {
			t.Fatal(err)
		}
		if _, err := send(owner.ID, "g3"); err != nil {
			t.Fatal(err)
		}
		if c, _, _ := store.ConversationForTest(ctx, db, m2.ID, conv); c.Hidden || c.UnreadCount != 3 {
			t.Fatalf("m2 after a new message: %+v", c)
		}
	})
}

func TestDirectSend_KeepsBothConversationListsAndMessageIDOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := testCtx(t)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		m1 := f.send(t, a.ID, b.ID, "1")
		m2 := f.send(t, b.ID, a.ID, "2")
		ca, _, _ := store.ConversationForTest(ctx, db, a.ID, m1.ConversationID)
		cb, _, _ := store.ConversationForTest(ctx, db, b.ID, m1.ConversationID)
		if ca.PeerID != b.ID || cb.PeerID != a.ID || ca.LastMessageID != m2.ID || cb.LastMessageID != m2.ID {
			t.Fatalf("conversations %+v %+v", ca, cb)
		}
		// alice got m2 from bob: unread 1; bob sent it: unread 0.
		if ca.UnreadCount != 1 || cb.UnreadCount != 0 || cb.ReadVersion != 2 {
			t.Fatalf("unread: alice %+v bob %+v", ca, cb)
		}
		_, _, err := f.msgs.Send(ctx, tether.Caller{UserID: a.ID}, tether.NewMessage{RecipientID: b.ID, GroupID: 1, ClientMsgID: "x", Type: tether.MessageText, Content: []byte(`{}`)})
		wantCode(t, err, tether.EINVALID)
	})
}

func TestGroupSend_CreatesTheMissingHeadsOfSomeMembers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := testCtx(t)
		owner := f.user(t, "owner")
		var members []int64
		for i := range 5 {
			members = append(members, f.user(t, fmt.Sprintf("member%d", i)).ID)
		}
		gid, err := store.MakeGroupForTest(ctx, db, owner.ID, members...)
		if err != nil {
			t.Fatal(err)
		}
		// Heads missing in the middle and at the end of the locked range.
		for _, uid := range []int64{members[1], members[4]} {
			if err := store.DeleteTimelineHeadForTest(ctx, db, uid); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := f.msgs.Send(ctx, tether.Caller{UserID: owner.ID}, tether.NewMessage{GroupID: gid, ClientMsgID: "g", Type: tether.MessageText, Content: []byte(`{"text":"hi"}`)}); err != nil {
			t.Fatal(err)
		}
		for _, uid := range append(members, owner.ID) {
			page, err := f.msgs.Sync(ctx, uid, 0, 10)
			if err != nil || len(page.Entries) != 1 || page.Entries[0].Version != 1 {
				t.Fatalf("user %d: %+v %v", uid, page, err)
			}
		}
	})
}
