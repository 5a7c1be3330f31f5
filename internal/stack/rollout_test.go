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
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/switches"
)

// setSwitchRules sets a live switch with rollout rules through the real
// admin REST route.
func setSwitchRules(t *testing.T, base, name, value string, rules switches.Rules) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"value": value, "rules": rules, "reason": "rollout test"})
	res := keyRequest(t, base, stackAdminKey, http.MethodPut, "/v1/admin/switches/"+name, string(body))
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("set %s=%s %+v: %d", name, value, rules, res.StatusCode)
	}
}

// The read_receipts switch is decided per request, by every rule the issue
// names, not by the reader's user id alone: rolled out to iOS only, the same
// reader reading from the web sends the peer no receipt, and reading from
// iOS does.
func TestRollout_ReadReceiptsFollowTheReadersRequest(t *testing.T) {
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
	bobWeb, err := rest.Login(ctx, "bob", password, "bob-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	bobIOS, err := rest.Login(ctx, "bob", password, "bob-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	setSwitchRules(t, base, switches.ReadReceipts, "on", switches.Rules{Platforms: []string{"ios"}})

	receipts := func() int {
		p, err := rest.Sync(ctx, alice.AccessToken, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range p.Entries {
			if e.Kind == tether.EntryRead {
				n++
			}
		}
		return n
	}
	// read sends alice's next message and has bob read it with tok.
	read := func(i int, tok string) {
		t.Helper()
		msg, _, err := rest.Send(ctx, alice.AccessToken, bob.ID, "r"+strconv.Itoa(i), "text", json.RawMessage(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		page, err := rest.Sync(ctx, tok, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		v := page.Entries[len(page.Entries)-1].Version
		r, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/conversations/"+msg.ConversationID+"/read",
			strings.NewReader(`{"version":`+strconv.FormatUint(v, 10)+`}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("mark read: %d", res.StatusCode)
		}
	}
	read(1, bobWeb.AccessToken)
	if n := receipts(); n != 0 {
		t.Fatalf("a read from the web (outside the iOS rollout) sent the peer %d receipts", n)
	}
	read(2, bobIOS.AccessToken)
	if n := receipts(); n != 1 {
		t.Fatalf("a read from iOS (inside the rollout) sent the peer %d receipts, want 1", n)
	}
}

// The push API's switch is decided per caller: denying one runaway API key
// turns the push API down for that key only, and the others keep pushing.
func TestRollout_PushAPISwitchIsPerCaller(t *testing.T) {
	t.Parallel()
	a := startAPIWithBulkheads(t, bulkhead.DefaultSpec)
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := client.NewAPI(base, nil).Register(ctx, "target", password)
	if err != nil {
		t.Fatal(err)
	}
	var runaway, calm tether.CreatedAPIKey
	for _, k := range []*tether.CreatedAPIKey{&runaway, &calm} {
		if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "svc", "scopes": []string{"push", "broadcast"}}, k); st != 201 {
			t.Fatalf("create key: %d", st)
		}
	}
	push := `{"user_ids":[` + strconv.FormatInt(u.ID, 10) + `],"payload":{"n":1}}`
	setSwitchRules(t, base, switches.PushAPI, "on", switches.Rules{DenyAPIKeys: []string{runaway.ID}})
	setSwitchRules(t, base, switches.Broadcast, "on", switches.Rules{Percent: new(float64), AllowAPIKeys: []string{calm.ID}})

	if st, code, retry := problemOf(t, keyRequest(t, base, runaway.Secret, "POST", "/v1/push", push)); st != 503 || code != tether.EDEGRADED || retry < 1 {
		t.Fatalf("the denied key's push: %d %q Retry-After %d, want 503 degraded", st, code, retry)
	}
	if st, code, _ := problemOf(t, keyRequest(t, base, calm.Secret, "POST", "/v1/push", push)); st != 202 {
		t.Fatalf("another key's push: %d %q, want 202", st, code)
	}
	// Broadcast released to one caller only (0% of keys, plus an allow list).
	if st, code, _ := problemOf(t, keyRequest(t, base, runaway.Secret, "POST", "/v1/push/broadcast", `{"payload":{"n":1}}`)); st != 503 || code != tether.EDEGRADED {
		t.Fatalf("a broadcast outside the rollout: %d %q, want 503 degraded", st, code)
	}
	if st, code, _ := problemOf(t, keyRequest(t, base, calm.Secret, "POST", "/v1/push/broadcast", `{"payload":{"n":1}}`)); st != 202 {
		t.Fatalf("a broadcast of the allowed key: %d %q, want 202", st, code)
	}
}
