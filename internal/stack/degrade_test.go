package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/switches"
)

// setSwitch sets a live switch through the real admin REST route.
func setSwitch(t *testing.T, base, name, value string) {
	t.Helper()
	res := keyRequest(t, base, stackAdminKey, http.MethodPut, "/v1/admin/switches/"+name,
		`{"value":"`+value+`","reason":"degradation test"}`)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("set %s=%s: %d", name, value, res.StatusCode)
	}
}

// Each degradation switch of the API gives its documented client behaviour
// (README, Degradation): 503 degraded with Retry-After for presence, the
// push API and broadcast; a shorter history page; no read receipt to the
// peer while the reader's own devices still learn the read. Chat send and
// sync keep working with every switch down.
func TestDegradation_EachSwitchGivesItsDocumentedClientBehaviour(t *testing.T) {
	t.Parallel()
	a := startAPIWithBulkheads(t, bulkhead.DefaultSpec)
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rest := client.NewAPI(base, nil)
	bob, err := rest.Register(ctx, "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice, err := rest.Login(ctx, "alice", password, "alice-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	bobTok, err := rest.Login(ctx, "bob", password, "bob-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push", "broadcast"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	bearer := func(method, path, body string) *http.Response {
		r, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wantDegraded := func(what string, res *http.Response) {
		t.Helper()
		st, code, retry := problemOf(t, res)
		if st != 503 || code != tether.EDEGRADED || retry < 1 {
			t.Fatalf("%s degraded: %d %q Retry-After %d, want 503 degraded with Retry-After", what, st, code, retry)
		}
	}
	wantStatus := func(what string, res *http.Response, want int) {
		t.Helper()
		if st, code, _ := problemOf(t, res); st != want {
			t.Fatalf("%s: %d %q, want %d", what, st, code, want)
		}
	}
	bobID := strconv.FormatInt(bob.ID, 10)
	push := `{"user_ids":[` + bobID + `],"payload":{"n":1}}`

	// Before: everything on.
	wantStatus("presence", bearer("GET", "/v1/presence?user_ids="+bobID, ""), 200)
	wantStatus("push", keyRequest(t, base, key.Secret, "POST", "/v1/push", push), 202)

	for _, name := range []string{switches.Presence, switches.PushAPI, switches.Broadcast, switches.ReadReceipts, switches.Signals, switches.Webhook} {
		setSwitch(t, base, name, "off")
	}
	setSwitch(t, base, switches.HistoryPageLimit, "2")
	setSwitch(t, base, switches.GroupFanoutLimit, "1")

	wantDegraded("presence", bearer("GET", "/v1/presence?user_ids="+bobID, ""))
	wantDegraded("push", keyRequest(t, base, key.Secret, "POST", "/v1/push", push))
	wantDegraded("push batch", keyRequest(t, base, key.Secret, "POST", "/v1/push/batch", `{"pushes":[`+push+`]}`))
	wantDegraded("broadcast", keyRequest(t, base, key.Secret, "POST", "/v1/push/broadcast", `{"payload":{"n":1}}`))

	// Chat send and sync are never degraded.
	var last *tether.Message
	for i := range 5 {
		msg, created, err := rest.Send(ctx, alice.AccessToken, bob.ID, "c"+strconv.Itoa(i), "text", json.RawMessage(`{"text":"hi"}`))
		if err != nil || !created {
			t.Fatalf("send %d with every switch down: %v", i, err)
		}
		last = msg
	}
	page, err := rest.Sync(ctx, bobTok.AccessToken, 0, 100)
	if err != nil || len(page.Entries) != 5 {
		t.Fatalf("sync with every switch down: %v (%d entries)", err, len(page.Entries))
	}

	// History: a page of at most history_page_max, with the rest behind its cursor.
	h, err := rest.History(ctx, alice.AccessToken, last.ConversationID, tether.HistoryQuery{Limit: 50})
	if err != nil || len(h.Messages) != 2 || h.NextCursor == "" {
		t.Fatalf("history capped at 2: %v, %d messages, has_more %v", err, len(h.Messages), h != nil && h.NextCursor != "")
	}

	// Read receipts: bob's read is recorded (his own timeline has it) but
	// alice gets no read entry.
	wantStatusBob := func(version uint64) {
		r, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/conversations/"+last.ConversationID+"/read",
			strings.NewReader(`{"version":`+strconv.FormatUint(version, 10)+`}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+bobTok.AccessToken)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus("mark read", res, 200)
	}
	wantStatusBob(page.Entries[len(page.Entries)-1].Version)
	hasRead := func(tok string) bool {
		p, err := rest.Sync(ctx, tok, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			if e.Kind == tether.EntryRead {
				return true
			}
		}
		return false
	}
	if !hasRead(bobTok.AccessToken) {
		t.Fatal("the reader's own timeline lacks the read entry")
	}
	if hasRead(alice.AccessToken) {
		t.Fatal("the peer got a read receipt with read_receipts off")
	}

	// Turned back on, each business serves again.
	for _, name := range []string{switches.Presence, switches.PushAPI, switches.ReadReceipts} {
		setSwitch(t, base, name, "on")
	}
	wantStatus("presence after", bearer("GET", "/v1/presence?user_ids="+bobID, ""), 200)
	wantStatus("push after", keyRequest(t, base, key.Secret, "POST", "/v1/push", push), 202)
}

// With the webhook switch off, offline notifications are not sent but wait
// in the backlog; turned on again, the waiting delivery goes out.
func TestDegradation_WebhookSwitchOffHoldsDeliveriesUntilOn(t *testing.T) {
	t.Parallel()
	const secret = "degrade-webhook-secret"
	recv, url := newHookReceiver(t, secret)
	a := startAPIWithBulkheads(t, bulkhead.DefaultSpec, func(c *config.APIConfig) {
		c.Webhook.URL, c.Webhook.Secret = url, secret
	})
	base := "http://" + a.HTTPAddr
	setSwitch(t, base, switches.Webhook, "off")
	msg, _ := sendToOffline(t, a.HTTPAddr)
	// The relay queued the delivery (the backlog gauge counts it) ...
	testenv.Eventually(t, 20*time.Second, func() bool {
		_, m := get(t, "http://"+a.AdminAddr+"/metrics")
		return strings.Contains(m, "tether_relay_offline_notices_total 1")
	}, "the delivery queued")
	// ... and the worker, looking every poll interval (1 s), sends nothing.
	time.Sleep(2500 * time.Millisecond)
	if bodies, _ := recv.got(); len(bodies) != 0 {
		t.Fatalf("%d webhook requests with the webhook switch off", len(bodies))
	}
	setSwitch(t, base, switches.Webhook, "on")
	testenv.Eventually(t, 20*time.Second, func() bool {
		bodies, _ := recv.got()
		return len(bodies) == 1 && strings.HasPrefix(bodies[0].ID, "m"+strconv.FormatInt(msg.ID, 10)+"-")
	}, "the held delivery sent once the switch is on")
}
