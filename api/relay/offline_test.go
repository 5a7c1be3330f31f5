package relay_test

import (
	stdsql "database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/store"
)

func (e *env) deliveries(t *testing.T) []store.WebhookDelivery {
	t.Helper()
	ds, err := e.db.WebhookDeliveries(e.ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestRelay_NotifyOfflineQueuesOneDeliveryPerOfflineRecipientNeverTheSender(t *testing.T) {
	e := newEnv(t)
	a, b, c, d := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol"), e.user(t, "dave")
	e.online(t, c, "c-phone", "n1")
	m1 := e.send(t, a, b, "to-offline") // alice (sender) and bob are offline
	e.send(t, a, c, "to-online")        // carol is online: no notice
	m3 := e.send(t, c, d, "from-online-to-offline")

	notified := 0
	r := e.relay(relay.Config{NotifyOffline: true, Notified: func() { notified++ }})
	if err := r.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	ds := e.deliveries(t)
	got := make([][2]int64, len(ds))
	for i, x := range ds {
		got[i] = [2]int64{x.MessageID, x.UserID}
	}
	want := [][2]int64{{m1.ID, b}, {m3.ID, d}}
	slices.SortFunc(got, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	if !slices.Equal(got, want) {
		t.Fatalf("deliveries (message, user) = %v, want %v", got, want)
	}
	var msg tether.Message
	if err := json.Unmarshal(ds[0].Message, &msg); err != nil || msg.ID != m1.ID || msg.SenderID != a || string(msg.Content) != `{"text":"hi"}` {
		t.Fatalf("queued message %s: %v", ds[0].Message, err)
	}
	if notified != 1 {
		t.Fatalf("Notified called %d times, want 1 (one batch)", notified)
	}
}

func TestRelay_WithoutNotifyOfflineQueuesNothing(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	e.send(t, a, b, "1")
	if err := e.relay(relay.Config{}).Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if ds := e.deliveries(t); len(ds) != 0 || e.outboxLen(t) != 0 {
		t.Fatalf("deliveries %+v, outbox %d", ds, e.outboxLen(t))
	}
}

// A batch published twice (a relay that crashed after publishing, before its
// commit) must not notify twice: the same outbox payload relayed again adds
// no delivery.
func TestRelay_SameBatchPublishedTwiceQueuesOneDelivery(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	m := e.send(t, a, b, "once")
	raw, err := stdsql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var payload string
	if err := raw.QueryRowContext(e.ctx, "SELECT payload FROM outbox").Scan(&payload); err != nil {
		t.Fatal(err)
	}
	r := e.relay(relay.Config{NotifyOffline: true, BatchSize: 1})
	if err := r.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(e.ctx, "INSERT INTO outbox (created_at, payload) VALUES (?, ?)", time.Now().UTC(), payload); err != nil {
		t.Fatal(err)
	}
	if err := r.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if ds := e.deliveries(t); len(ds) != 1 || ds[0].MessageID != m.ID || ds[0].UserID != b || e.outboxLen(t) != 0 {
		t.Fatalf("deliveries %+v, outbox %d", ds, e.outboxLen(t))
	}
}

// Rows written before the message ids were carried typed in the payload
// (queued by an older release during an upgrade) still notify.
func TestRelay_RowWithoutTypedMessageIDsStillNotifies(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	m := e.send(t, a, b, "legacy")
	raw, err := stdsql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var payload string
	if err := raw.QueryRowContext(e.ctx, "SELECT payload FROM outbox").Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(payload), &p); err != nil || p["message"] == nil {
		t.Fatalf("payload %s carries no typed message: %v", payload, err)
	}
	delete(p, "message")
	legacy, _ := json.Marshal(p)
	if _, err := raw.ExecContext(e.ctx, "UPDATE outbox SET payload = ?", string(legacy)); err != nil {
		t.Fatal(err)
	}
	if err := e.relay(relay.Config{NotifyOffline: true}).Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if ds := e.deliveries(t); len(ds) != 1 || ds[0].MessageID != m.ID || ds[0].UserID != b {
		t.Fatalf("deliveries %+v; want one for bob", ds)
	}
}
