package store_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
)

// TestMeasure_Conversations times the conversation operations on MariaDB:
// a page of 50 of 1,000 conversations, a 1:1 read receipt, and a recall in
// a 500-member group. It only runs with TETHER_MEASURE=1 (it takes a
// minute) and reports medians and p90s in the test log:
//
//	TETHER_MEASURE=1 go test -count=1 ./api/store/ -run TestMeasure_Conversations -v
func TestMeasure_Conversations(t *testing.T) {
	if os.Getenv("TETHER_MEASURE") != "1" {
		t.Skip("set TETHER_MEASURE=1 to measure")
	}
	db := openDB(t, store.DriverMySQL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := newFixture(t, db, nil)
	msgs := store.NewMessageService(db, nil, store.WithRecallWindow(time.Hour))
	convs := store.NewConversationService(db, nil)
	report := func(what string, ds []time.Duration) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("%-40s n=%d median=%v p90=%v", what, len(ds), ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)*9/10].Round(10*time.Microsecond))
	}

	me := f.user(t, "reader")
	for i := range 1000 {
		peer := f.user(t, fmt.Sprintf("peer%d", i))
		f.send(t, peer.ID, me.ID, fmt.Sprint(i))
	}
	var list []time.Duration
	for range 200 {
		t0 := time.Now()
		page, err := convs.Conversations(ctx, me.ID, "", 50)
		list = append(list, time.Since(t0))
		if err != nil || len(page.Conversations) != 50 || page.Conversations[0].LastMessage == nil {
			t.Fatal(page, err)
		}
	}
	report("list 50 of 1000 conversations", list)

	a, b := f.user(t, "alice"), f.user(t, "bob")
	var reads []time.Duration
	for i := range 200 {
		m := f.send(t, a.ID, b.ID, fmt.Sprint(i))
		head, err := f.msgs.Sync(ctx, b.ID, 1<<62, 1)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		c, err := convs.MarkRead(ctx, b.ID, m.ConversationID, head.HeadVersion)
		reads = append(reads, time.Since(t0))
		if err != nil || c.UnreadCount != 0 {
			t.Fatal(c, err)
		}
	}
	report("1:1 mark read (reader + peer receipt)", reads)

	owner := f.user(t, "owner")
	var members []int64
	for i := range 499 {
		members = append(members, f.user(t, fmt.Sprintf("member%d", i)).ID)
	}
	gid, err := store.MakeGroupForTest(ctx, db, owner.ID, members...)
	if err != nil {
		t.Fatal(err)
	}
	var recalls []time.Duration
	for i := range 30 {
		m, _, err := msgs.Send(ctx, tether.Caller{UserID: owner.ID}, tether.NewMessage{GroupID: gid, ClientMsgID: fmt.Sprint(i), Type: tether.MessageText, Content: []byte(`{"text":"x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if _, err := msgs.Recall(ctx, tether.Caller{UserID: owner.ID}, m.ID); err != nil {
			t.Fatal(err)
		}
		recalls = append(recalls, time.Since(t0))
	}
	report("recall in a 500-member group", recalls)
}
