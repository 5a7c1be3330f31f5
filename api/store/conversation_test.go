package store_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// entries returns every timeline entry of uid, checking that versions run
// 1, 2, 3, ... without a gap.
func (f *fixture) entries(t *testing.T, uid int64) []tether.Entry {
	t.Helper()
	var all []tether.Entry
	var since uint64
	for {
		page, err := f.msgs.Sync(testCtx(t), uid, since, 0)
		if err != nil {
			t.Fatalf("sync %d: %v", uid, err)
		}
		all = append(all, page.Entries...)
		since = page.NextSince
		if !page.HasMore {
			break
		}
	}
	for i, e := range all {
		if e.Version != uint64(i+1) {
			t.Fatalf("user %d: entry %d has version %d: versions are not gap-free", uid, i, e.Version)
		}
	}
	return all
}

// versionOf returns the version of message id in uid's timeline.
func (f *fixture) versionOf(t *testing.T, uid, id int64) uint64 {
	t.Helper()
	for _, e := range f.entries(t, uid) {
		if e.Kind == tether.EntryMessage && e.Message != nil && e.Message.ID == id {
			return e.Version
		}
	}
	t.Fatalf("message %d not in the timeline of %d", id, uid)
	return 0
}

func readEvent(t *testing.T, e tether.Entry) tether.ReadEvent {
	t.Helper()
	var ev tether.ReadEvent
	if e.Kind != tether.EntryRead || json.Unmarshal(e.Event, &ev) != nil {
		t.Fatalf("not a read entry: %+v", e)
	}
	return ev
}

func direct(a, b int64) string { return fmt.Sprintf("d:%d:%d", min(a, b), max(a, b)) }

func TestConversations_NewestFirstPagedWithLastMessageAndUnread(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		bob := f.user(t, "bob")
		a, c, d := f.user(t, "alice"), f.user(t, "carol"), f.user(t, "dave")
		f.send(t, a.ID, bob.ID, "a1")
		f.send(t, c.ID, bob.ID, "c1")
		f.send(t, a.ID, bob.ID, "a2")
		last := f.send(t, bob.ID, d.ID, "b1")
		f.send(t, c.ID, bob.ID, "c2")
		cLast := f.send(t, c.ID, bob.ID, "c3")

		// carol (newest), dave, alice; one page at a time.
		want := []struct {
			peer   int64
			unread int
			lastID int64
		}{{c.ID, 3, cLast.ID}, {d.ID, 0, last.ID}, {a.ID, 2, 0}}
		var got []tether.Conversation
		cursor := ""
		for range 10 {
			page, err := convs.Conversations(ctx, bob.ID, cursor, 1)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page.Conversations...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("got %d conversations, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if g.PeerID != w.peer || g.UnreadCount != w.unread || g.Type != tether.ConversationDirect || g.ID != direct(bob.ID, w.peer) || g.LastMessage == nil {
				t.Fatalf("conversation %d: %+v, want %+v", i, g, w)
			}
			if w.lastID != 0 && g.LastMessage.ID != w.lastID {
				t.Fatalf("conversation %d: last message %d, want %d", i, g.LastMessage.ID, w.lastID)
			}
			if g.LastVersion != f.versionOf(t, bob.ID, g.LastMessage.ID) {
				t.Fatalf("conversation %d: last_version %d", i, g.LastVersion)
			}
		}
		// The same in one page, and a bad cursor is invalid.
		page, err := convs.Conversations(ctx, bob.ID, "", 0)
		if err != nil || len(page.Conversations) != 3 || page.NextCursor != "" || page.Conversations[0].PeerID != c.ID {
			t.Fatalf("one page: %+v %v", page, err)
		}
		_, err = convs.Conversations(ctx, bob.ID, "bm90LWEtY3Vyc29y", 10)
		wantCode(t, err, tether.EINVALID)
		// Nobody else sees bob's list; dave's has one conversation.
		page, err = convs.Conversations(ctx, d.ID, "", 0)
		if err != nil || len(page.Conversations) != 1 || page.Conversations[0].PeerID != bob.ID || page.Conversations[0].UnreadCount != 1 {
			t.Fatalf("dave: %+v %v", page, err)
		}
		one, err := convs.Conversation(ctx, bob.ID, direct(bob.ID, a.ID))
		if err != nil || one.UnreadCount != 2 || one.PeerID != a.ID {
			t.Fatalf("one: %+v %v", one, err)
		}
		_, err = convs.Conversation(ctx, d.ID, direct(bob.ID, a.ID))
		wantCode(t, err, tether.ENOTFOUND)
		_, err = convs.Conversation(ctx, d.ID, direct(d.ID, a.ID)) // a participant, but nothing was ever sent
		wantCode(t, err, tether.ENOTFOUND)
		_, err = convs.Conversation(ctx, d.ID, "d:2:1")
		wantCode(t, err, tether.EINVALID)
	})
}

func TestMarkRead_DirectReceiptReachesReaderAndPeerWithGapFreeVersions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		var commits int
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, func() { commits++ })
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := direct(a.ID, b.ID)
		m1, m2 := f.send(t, a.ID, b.ID, "1"), f.send(t, a.ID, b.ID, "2")
		f.send(t, a.ID, b.ID, "3")
		v2 := f.versionOf(t, b.ID, m2.ID)

		c, err := convs.MarkRead(ctx, b.ID, conv, v2)
		if err != nil || c.ReadVersion != v2 || c.UnreadCount != 1 {
			t.Fatalf("mark read: %+v %v", c, err)
		}
		if commits != 1 {
			t.Fatalf("onCommit %d times, want 1", commits)
		}
		// bob: 3 messages + his read receipt with the version.
		be := f.entries(t, b.ID)
		if len(be) != 4 {
			t.Fatalf("bob's timeline: %+v", be)
		}
		if ev := readEvent(t, be[3]); ev.ReaderID != b.ID || ev.MessageID != m2.ID || ev.Version != v2 || be[3].ConversationID != conv {
			t.Fatalf("bob's read event %+v", ev)
		}
		// alice: 3 messages + the receipt, without bob's version.
		ae := f.entries(t, a.ID)
		if len(ae) != 4 {
			t.Fatalf("alice's timeline: %+v", ae)
		}
		if ev := readEvent(t, ae[3]); ev.ReaderID != b.ID || ev.MessageID != m2.ID || ev.Version != 0 || ae[3].ConversationID != conv {
			t.Fatalf("alice's read event %+v (raw %s)", ev, ae[3].Event)
		}
		// An older version is a no-op that returns the state.
		c, err = convs.MarkRead(ctx, b.ID, conv, f.versionOf(t, b.ID, m1.ID))
		if err != nil || c.ReadVersion != v2 || c.UnreadCount != 1 {
			t.Fatalf("older read: %+v %v", c, err)
		}
		if n := len(f.entries(t, b.ID)); n != 4 || commits != 1 {
			t.Fatalf("an older read appended entries (%d) or committed (%d)", n, commits)
		}
		// Past the head: invalid. Version 0: invalid. Not a participant: not found.
		_, err = convs.MarkRead(ctx, b.ID, conv, 5)
		wantCode(t, err, tether.EINVALID)
		_, err = convs.MarkRead(ctx, b.ID, conv, 0)
		wantCode(t, err, tether.EINVALID)
		carol := f.user(t, "carol")
		_, err = convs.MarkRead(ctx, carol.ID, conv, 1)
		wantCode(t, err, tether.ENOTFOUND)

		// Read entries never count as unread: bob reads everything (his head
		// is his own read entry), then alice's next message is his only unread.
		c, err = convs.MarkRead(ctx, b.ID, conv, 4)
		if err != nil || c.UnreadCount != 0 || c.ReadVersion != 4 {
			t.Fatalf("read all: %+v %v", c, err)
		}
		f.send(t, a.ID, b.ID, "4")
		if c, _ := convs.Conversation(ctx, b.ID, conv); c.UnreadCount != 1 {
			t.Fatalf("unread after a new message: %+v", c)
		}
		// Alice's read entries sit in her timeline; her conversation is read
		// (she sent last) and they never counted as unread for her either.
		if c, _ := convs.Conversation(ctx, a.ID, conv); c.UnreadCount != 0 {
			t.Fatalf("alice: %+v", c)
		}
		f.entries(t, a.ID)
		f.entries(t, b.ID)
	})
}

func TestMarkRead_GroupReceiptGoesToTheReaderOnly(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		owner, m1, m2 := f.user(t, "owner"), f.user(t, "member1"), f.user(t, "member2")
		gid, err := store.MakeGroupForTest(ctx, db, owner.ID, m1.ID, m2.ID)
		if err != nil {
			t.Fatal(err)
		}
		conv := fmt.Sprintf("g:%d", gid)
		var last *tether.Message
		for i := range 3 {
			if last, _, err = f.msgs.Send(ctx, tether.Caller{UserID: owner.ID}, tether.NewMessage{GroupID: gid, ClientMsgID: fmt.Sprint(i), Type: tether.MessageText, Content: []byte(`{"text":"hi"}`)}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := convs.MarkRead(ctx, m1.ID, conv, 3)
		if err != nil || c.UnreadCount != 0 || c.Type != tether.ConversationGroup || c.GroupID != gid {
			t.Fatalf("mark read: %+v %v", c, err)
		}
		if e := f.entries(t, m1.ID); len(e) != 4 || readEvent(t, e[3]).MessageID != last.ID || readEvent(t, e[3]).Version != 3 {
			t.Fatalf("reader's timeline %+v", e)
		}
		for _, uid := range []int64{owner.ID, m2.ID} {
			if e := f.entries(t, uid); len(e) != 3 {
				t.Fatalf("user %d got %d entries, want only the 3 messages", uid, len(e))
			}
		}
		if c, _ := convs.Conversation(ctx, m2.ID, conv); c.UnreadCount != 3 {
			t.Fatalf("member2 %+v", c)
		}
	})
}

func conversationEvent(t *testing.T, e tether.Entry) tether.ConversationEvent {
	t.Helper()
	var ev tether.ConversationEvent
	if e.Kind != tether.EntryConversation || json.Unmarshal(e.Event, &ev) != nil {
		t.Fatalf("not a conversation entry: %+v", e)
	}
	return ev
}

func TestMuteAndDelete_OwnDevicesLearnAndTheNextMessageBringsItBack(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := direct(a.ID, b.ID)
		f.send(t, a.ID, b.ID, "1")
		f.send(t, a.ID, b.ID, "2")

		c, err := convs.SetMuted(ctx, b.ID, conv, true)
		if err != nil || !c.Muted || c.UnreadCount != 2 {
			t.Fatalf("mute: %+v %v", c, err)
		}
		if _, err := convs.SetMuted(ctx, b.ID, conv, true); err != nil { // no change, no entry
			t.Fatal(err)
		}
		be := f.entries(t, b.ID)
		if len(be) != 3 || be[2].ConversationID != conv {
			t.Fatalf("bob's timeline after muting twice: %+v", be)
		}
		if ev := conversationEvent(t, be[2]); !ev.Muted || ev.Deleted {
			t.Fatalf("mute event %+v", ev)
		}
		if n := len(f.entries(t, a.ID)); n != 2 {
			t.Fatalf("alice got %d entries: muting is bob's own business", n)
		}
		page, _ := convs.Conversations(ctx, b.ID, "", 0)
		if len(page.Conversations) != 1 || !page.Conversations[0].Muted {
			t.Fatalf("list %+v", page)
		}

		if err := convs.DeleteConversation(ctx, b.ID, conv); err != nil {
			t.Fatal(err)
		}
		if err := convs.DeleteConversation(ctx, b.ID, conv); err != nil { // idempotent, no entry
			t.Fatal(err)
		}
		be = f.entries(t, b.ID)
		if len(be) != 4 {
			t.Fatalf("bob's timeline after deleting twice: %+v", be)
		}
		if ev := conversationEvent(t, be[3]); !ev.Muted || !ev.Deleted {
			t.Fatalf("delete event %+v", ev)
		}
		if page, _ := convs.Conversations(ctx, b.ID, "", 0); len(page.Conversations) != 0 {
			t.Fatalf("deleted conversation still listed: %+v", page)
		}
		_, err = convs.Conversation(ctx, b.ID, conv)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = convs.SetMuted(ctx, b.ID, conv, false)
		wantCode(t, err, tether.ENOTFOUND)
		_, err = convs.MarkRead(ctx, b.ID, conv, 4)
		wantCode(t, err, tether.ENOTFOUND)
		// History stays readable.
		h, err := f.msgs.History(ctx, b.ID, conv, tether.HistoryQuery{})
		if err != nil || len(h.Messages) != 2 {
			t.Fatalf("history after delete: %+v %v", h, err)
		}
		// The next message brings it back, muted still, with one unread.
		m3 := f.send(t, a.ID, b.ID, "3")
		c, err = convs.Conversation(ctx, b.ID, conv)
		if err != nil || c.UnreadCount != 1 || !c.Muted || c.LastMessage == nil || c.LastMessage.ID != m3.ID {
			t.Fatalf("after a new message: %+v %v", c, err)
		}
		if c.ReadVersion != 2 {
			t.Fatalf("deleting read up to the last message (version 2), read_version %d", c.ReadVersion)
		}
		c, err = convs.SetMuted(ctx, b.ID, conv, false)
		if err != nil || c.Muted {
			t.Fatalf("unmute: %+v %v", c, err)
		}
		be = f.entries(t, b.ID)
		if ev := conversationEvent(t, be[len(be)-1]); ev.Muted || ev.Deleted {
			t.Fatalf("unmute event %+v", ev)
		}
		// Deleting a conversation one never had is not found.
		carol := f.user(t, "carol")
		wantCode(t, convs.DeleteConversation(ctx, carol.ID, direct(carol.ID, a.ID)), tether.ENOTFOUND)
		wantCode(t, convs.DeleteConversation(ctx, carol.ID, conv), tether.ENOTFOUND)
		wantCode(t, convs.DeleteConversation(ctx, carol.ID, "x"), tether.EINVALID)
	})
}

// Reads racing sends keep unread_count equal to the messages of others
// after read_version in the reader's timeline, and versions gap-free.
func TestMarkRead_RacingSendsKeepsUnreadExact(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := direct(a.ID, b.ID)
		f.send(t, a.ID, b.ID, "first")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 20 {
				if _, _, err := f.msgs.Send(ctx, tether.Caller{UserID: a.ID}, tether.NewMessage{RecipientID: b.ID, ClientMsgID: fmt.Sprint(i), Type: tether.MessageText, Content: []byte(`{"text":"x"}`)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for range 20 {
			page, err := f.msgs.Sync(ctx, b.ID, 1<<62, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := convs.MarkRead(ctx, b.ID, conv, page.HeadVersion); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		c, err := convs.Conversation(ctx, b.ID, conv)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, e := range f.entries(t, b.ID) {
			if e.Kind == tether.EntryMessage && e.Version > c.ReadVersion {
				want++
			}
		}
		if c.UnreadCount != want {
			t.Fatalf("unread_count %d, want %d (read_version %d)", c.UnreadCount, want, c.ReadVersion)
		}
		f.entries(t, a.ID)
	})
}

// Sending reads the conversation for the sender (what you answer you have
// seen), in the send's transaction, without a read entry or a receipt: the
// sender's other devices learn it from the message entry itself, and the
// peer hears of a read only from POST .../read.
func TestSend_ReadsTheConversationForTheSenderWithoutAReceipt(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		alice, bob := f.user(t, "alice"), f.user(t, "bob")
		f.send(t, alice.ID, bob.ID, "a1")
		a2 := f.send(t, alice.ID, bob.ID, "a2")
		before, err := convs.Conversation(ctx, bob.ID, direct(alice.ID, bob.ID))
		if err != nil || before.UnreadCount != 2 || before.ReadVersion != 0 {
			t.Fatalf("bob before answering: %+v %v", before, err)
		}
		reply := f.send(t, bob.ID, alice.ID, "b1")
		after, err := convs.Conversation(ctx, bob.ID, direct(alice.ID, bob.ID))
		if err != nil {
			t.Fatal(err)
		}
		if v := f.versionOf(t, bob.ID, reply.ID); after.UnreadCount != 0 || after.ReadVersion != v || after.LastVersion != v {
			t.Fatalf("bob after answering: %+v, want read and last version %d, unread 0", after, v)
		}
		// Alice's side: the reply is unread; her own messages never were.
		theirs, err := convs.Conversation(ctx, alice.ID, direct(alice.ID, bob.ID))
		if err != nil || theirs.UnreadCount != 1 || theirs.ReadVersion != f.versionOf(t, alice.ID, a2.ID) {
			t.Fatalf("alice: %+v %v", theirs, err)
		}
		// Only message entries: no read entry for bob's devices, no receipt for alice.
		for _, uid := range []int64{alice.ID, bob.ID} {
			for _, e := range f.entries(t, uid) {
				if e.Kind != tether.EntryMessage {
					t.Fatalf("user %d has a %s entry at v%d; sending appends messages only", uid, e.Kind, e.Version)
				}
			}
		}
	})
}

// A block covers read receipts: the blocker, who may still write to the
// blocked user, is not told when they read it.
func TestMarkRead_APeerWhoBlockedTheReaderGetsNoReceipt(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		f, ctx := newFixture(t, db, nil), testCtx(t)
		convs := store.NewConversationService(db, nil)
		social := store.NewSocialService(db)
		a, b := f.user(t, "alice"), f.user(t, "bob")
		conv := direct(a.ID, b.ID)
		if err := social.Block(ctx, a.ID, b.ID); err != nil { // alice blocked bob
			t.Fatal(err)
		}
		m := f.send(t, a.ID, b.ID, "1") // alice may still write to bob
		if _, err := convs.MarkRead(ctx, b.ID, conv, f.versionOf(t, b.ID, m.ID)); err != nil {
			t.Fatal(err)
		}
		if e := f.entries(t, b.ID); len(e) != 2 || readEvent(t, e[1]).MessageID != m.ID {
			t.Fatalf("bob's own devices are told: %+v", e)
		}
		if e := f.entries(t, a.ID); len(e) != 1 {
			t.Fatalf("alice, who blocked bob, got %d entries, want only her message: %+v", len(e), e)
		}
		// Unblocked, bob's receipts reach her again.
		if err := social.Unblock(ctx, a.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		m2 := f.send(t, a.ID, b.ID, "2")
		if _, err := convs.MarkRead(ctx, b.ID, conv, f.versionOf(t, b.ID, m2.ID)); err != nil {
			t.Fatal(err)
		}
		if e := f.entries(t, a.ID); len(e) != 3 || readEvent(t, e[2]).ReaderID != b.ID {
			t.Fatalf("alice after unblocking: %+v", e)
		}
	})
}
