package relay_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
)

// The group fan-out switch keeps group entries above its member count from
// live push (members get them by sync: their versions are announced), a
// group of two members included, and never a 1:1 message, whatever its
// value: 1:1 push delivery cannot be turned off.
func TestRelay_FanoutLimitNeverKeepsA1to1EntryFromPush(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
	for uid, dev := range map[int64]string{a: "a", b: "b", c: "c"} {
		e.online(t, uid, dev, "n1")
	}
	groups := store.NewGroupService(e.db, nil)
	g, err := groups.CreateGroup(e.ctx, a, tether.NewGroup{Name: "three", MemberIDs: []int64{b, c}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := groups.CreateGroup(e.ctx, a, tether.NewGroup{Name: "two", MemberIDs: []int64{b}})
	if err != nil {
		t.Fatal(err)
	}
	direct := e.send(t, a, b, "direct")
	grp2, _, err := e.msgs.Send(e.ctx, tether.Caller{UserID: a}, tether.NewMessage{
		GroupID: pair.ID, ClientMsgID: "pair", Type: tether.MessageText, Content: []byte(`{"text":"both"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	grp, _, err := e.msgs.Send(e.ctx, tether.Caller{UserID: a}, tether.NewMessage{
		GroupID: g.ID, ClientMsgID: "group", Type: tether.MessageText, Content: []byte(`{"text":"all"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r := e.relay(relay.Config{FanoutLimit: func() int64 { return 1 }})
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	r.Kick()
	testenv.Eventually(t, 10*time.Second, func() bool { return e.outboxLen(t) == 0 }, "outbox not relayed")

	seen := map[int64]bool{}
	for _, j := range e.jobs(t, "n1") {
		var body struct {
			Message tether.Message `json:"message"`
		}
		_ = json.Unmarshal(j.Body, &body)
		seen[body.Message.ID] = true
	}
	if !seen[direct.ID] {
		t.Fatal("the 1:1 message was not pushed under a fan-out limit of 1")
	}
	if seen[grp.ID] {
		t.Fatal("the group message of 3 members was pushed live under a fan-out limit of 1")
	}
	if seen[grp2.ID] {
		t.Fatal("the group message of 2 members was pushed live under a fan-out limit of 1")
	}
	// Announced all the same: carol's newest version is the group message's.
	page, err := e.msgs.Sync(e.ctx, c, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.rdb.Get(e.ctx, e.reg.Keys().Version(c)).Uint64()
	if err != nil || len(page.Entries) == 0 || got != page.Entries[len(page.Entries)-1].Version {
		t.Fatalf("carol's announced version %d (%v), timeline %+v", got, err, page.Entries)
	}
}
