package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

const stackAdminKey = "stack-admin-key-0123456789abcdef0123456789"

// startPushAPI starts an API with the admin key and a push node, on MariaDB and Redis.
func startPushAPI(t *testing.T) (*API, *Push) {
	t.Helper()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, pub := keyPair(t)
	ac := apiConfig(t, dsn, prefix, priv)
	ac.PushAPI.AdminKey = stackAdminKey
	a, err := StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("push-")
	pc.TCPAddr, pc.AdminAddr, pc.TokenPublicKey = "127.0.0.1:0", "127.0.0.1:0", pub
	pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), prefix
	p, err := StartPush(ctx, pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, p)
	return a, p
}

// keyCall sends a JSON request with an API key and decodes the answer into out.
func keyCall(t *testing.T, base, key, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	r, _ := http.NewRequest(method, base+path, body)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// pushInbox records the transient pushes a client got.
type pushInbox struct {
	mu     sync.Mutex
	pushes []client.Push
}

func (b *pushInbox) add(p client.Push) {
	b.mu.Lock()
	b.pushes = append(b.pushes, p)
	b.mu.Unlock()
}

func (b *pushInbox) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.pushes {
		if p.ID == id {
			n++
		}
	}
	return n
}

// connect runs a push client for user on platform until the test ends.
func connect(t *testing.T, base, pushAddr, user, platform string, entries func(tether.Entry)) *pushInbox {
	t.Helper()
	in := &pushInbox{}
	if entries == nil {
		entries = func(tether.Entry) {}
	}
	c := client.New(client.Config{
		APIBase: base, PushAddr: pushAddr, Username: user, Password: password,
		DeviceID: user + "-" + platform, Platform: platform, Handler: entries, OnPush: in.add,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return in
}

func TestPushAPI_TransientPushReachesLiveSessionsOnlyWithStatus(t *testing.T) {
	t.Parallel()
	a, p := startPushAPI(t)
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rest := client.NewAPI(base, nil)
	ids := map[string]int64{}
	for _, u := range []string{"alice", "bob", "carol"} {
		usr, err := rest.Register(ctx, u, password)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = usr.ID
	}
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push", "broadcast"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	alice := connect(t, base, p.PushAddr, "alice", "ios", nil)
	bob := connect(t, base, p.PushAddr, "bob", "web", nil)
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 2 }, "two push sessions")

	body := map[string]any{"user_ids": []int64{ids["alice"], ids["bob"], ids["carol"]}, "payload": map[string]any{"title": "hi"}, "idempotency_key": "campaign-1"}
	var res tether.PushResult
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", body, &res); st != 202 || res.Targeted != 2 {
		t.Fatalf("push: %d %+v", st, res)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return alice.count(res.PushID) == 1 && bob.count(res.PushID) == 1 }, "the push at alice and bob")
	// Delivered and acknowledged (each client sends PushAck after OnPush) reach the status.
	var st tether.PushStatus
	testenv.Eventually(t, 10*time.Second, func() bool {
		keyCall(t, base, key.Secret, "GET", "/v1/push/"+res.PushID, nil, &st)
		return st.Targeted == 2 && st.Delivered == 2 && st.Acknowledged == 2
	}, "status 2/2/2")
	if st.Mode != tether.PushTransient {
		t.Fatalf("status %+v", st)
	}

	// The same idempotency key: the original push, not sent again.
	var again tether.PushResult
	if code := keyCall(t, base, key.Secret, "POST", "/v1/push", body, &again); code != 202 || again.PushID != res.PushID || !again.Duplicate || again.Targeted != 2 {
		t.Fatalf("repeat: %d %+v", code, again)
	}

	// Platform filter: only alice's ios session.
	var ios tether.PushResult
	keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{ids["alice"], ids["bob"]}, "platforms": []string{"ios"}, "payload": map[string]any{"n": 2}}, &ios)
	if ios.Targeted != 1 {
		t.Fatalf("ios push targeted %d", ios.Targeted)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return alice.count(ios.PushID) == 1 }, "the ios push at alice")

	// Broadcast to web: bob's session, not alice's.
	var bc struct {
		PushID string `json:"push_id"`
	}
	if code := keyCall(t, base, key.Secret, "POST", "/v1/push/broadcast", map[string]any{"platforms": []string{"web"}, "payload": map[string]any{"b": 1}}, &bc); code != 202 {
		t.Fatalf("broadcast: %d", code)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return bob.count(bc.PushID) == 1 }, "the broadcast at bob")
	testenv.Eventually(t, 10*time.Second, func() bool {
		keyCall(t, base, key.Secret, "GET", "/v1/push/"+bc.PushID, nil, &st)
		return st.Mode == tether.PushBroadcast && st.Delivered == 1 && st.Targeted == 1 && st.Acknowledged == 1
	}, "broadcast status 1/1/1")

	time.Sleep(300 * time.Millisecond) // a duplicate or stray delivery would have landed by now
	if alice.count(res.PushID) != 1 || bob.count(res.PushID) != 1 || bob.count(ios.PushID) != 0 || alice.count(bc.PushID) != 0 {
		t.Fatalf("deliveries: alice %+v bob %+v", alice.pushes, bob.pushes)
	}
	// Transient pushes are not stored: carol, offline then, has nothing to sync.
	tok, err := rest.Login(ctx, "carol", password, "carol-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	page, err := rest.Sync(ctx, tok.AccessToken, 0, 50)
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("carol's timeline: %+v %v", page, err)
	}
	carol := connect(t, base, p.PushAddr, "carol", "web", nil)
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 3 }, "carol's session")
	time.Sleep(300 * time.Millisecond)
	if carol.count(res.PushID) != 0 {
		t.Fatal("carol got a transient push sent while she was offline")
	}
}

// entryInbox records the timeline entries a client handed its application.
type entryInbox struct {
	mu      sync.Mutex
	entries []tether.Entry
}

func (b *entryInbox) add(e tether.Entry) {
	b.mu.Lock()
	b.entries = append(b.entries, e)
	b.mu.Unlock()
}

// pushes returns the push ids of the push entries received.
func (b *entryInbox) pushes(t *testing.T) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ids []string
	for _, e := range b.entries {
		if e.Kind != tether.EntryPush {
			continue
		}
		var ev struct {
			PushID  string          `json:"push_id"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(e.Event, &ev); err != nil || len(ev.Payload) == 0 {
			t.Fatalf("push entry %+v: %v", e, err)
		}
		ids = append(ids, ev.PushID)
	}
	return ids
}

func TestPushAPI_PersistedPushReachesAnOfflineUserBySyncAndExpires(t *testing.T) {
	t.Parallel()
	a, p := startPushAPI(t)
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rest := client.NewAPI(base, nil)
	ids := map[string]int64{}
	for _, u := range []string{"alice", "carol"} {
		usr, err := rest.Register(ctx, u, password)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = usr.ID
	}
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	var aliceGot entryInbox
	connect(t, base, p.PushAddr, "alice", "ios", aliceGot.add)
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 1 }, "alice's session")

	// Carol is offline; 999999 is nobody and is skipped.
	var res tether.PushResult
	body := map[string]any{"user_ids": []int64{ids["alice"], ids["carol"], 999999}, "payload": map[string]any{"title": "kept"}, "persist": true, "idempotency_key": "p-1"}
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", body, &res); st != 202 || res.Targeted != 2 {
		t.Fatalf("persisted push: %d %+v", st, res)
	}
	var again tether.PushResult
	if keyCall(t, base, key.Secret, "POST", "/v1/push", body, &again); again.PushID != res.PushID || !again.Duplicate {
		t.Fatalf("repeat: %+v", again)
	}
	var expired tether.PushResult
	keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{ids["carol"]}, "payload": map[string]any{"title": "late"}, "persist": true, "ttl_seconds": 1}, &expired)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(aliceGot.pushes(t)) == 1 }, "the push at alice, live")
	time.Sleep(1500 * time.Millisecond) // the second push expires

	var carolGot entryInbox
	connect(t, base, p.PushAddr, "carol", "web", carolGot.add)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(carolGot.pushes(t)) == 1 }, "the push at carol, by sync")
	if got := carolGot.pushes(t); got[0] != res.PushID {
		t.Fatalf("carol got %v, want only %s (the other expired)", got, res.PushID)
	}
	// Stored once: the repeat added no entry (alice's timeline holds one).
	if got := aliceGot.pushes(t); len(got) != 1 || got[0] != res.PushID {
		t.Fatalf("alice got %v", got)
	}
	var st tether.PushStatus
	testenv.Eventually(t, 10*time.Second, func() bool {
		keyCall(t, base, key.Secret, "GET", "/v1/push/"+res.PushID, nil, &st)
		return st.Mode == tether.PushPersisted && st.Targeted == 2 && st.Delivered >= 1 && st.Acknowledged == 2
	}, "persisted status: 2 targeted, delivered live to alice, acknowledged by both")
	if st.ExpiresAt.Sub(st.CreatedAt) != 24*time.Hour {
		t.Fatalf("default persisted ttl: %+v", st)
	}
}

func TestPushAPI_PersistedCollapseKeyLeavesOnlyTheNewestPayloadInSync(t *testing.T) {
	t.Parallel()
	a, _ := startPushAPI(t)
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rest := client.NewAPI(base, nil)
	dave, err := rest.Register(ctx, "dave", password)
	if err != nil {
		t.Fatal(err)
	}
	var key tether.CreatedAPIKey
	keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "scores", "scopes": []string{"push"}}, &key)
	var ids []string
	for _, p := range []struct{ ck, score string }{{"match-1", "1:0"}, {"match-1", "2:0"}, {"match-2", "0:0"}} {
		var res tether.PushResult
		if st := keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{dave.ID}, "payload": map[string]any{"score": p.score}, "persist": true, "collapse_key": p.ck}, &res); st != 202 || res.Targeted != 1 {
			t.Fatalf("push %+v: %d %+v", p, st, res)
		}
		ids = append(ids, res.PushID)
	}
	tok, err := rest.Login(ctx, "dave", password, "dave-web", "web")
	if err != nil {
		t.Fatal(err)
	}
	page, err := rest.Sync(ctx, tok.AccessToken, 0, 50)
	if err != nil || len(page.Entries) != 3 {
		t.Fatalf("sync: %+v %v", page, err)
	}
	type ev struct {
		PushID    string          `json:"push_id"`
		Payload   json.RawMessage `json:"payload"`
		Collapsed bool            `json:"collapsed"`
	}
	var got []ev
	for _, e := range page.Entries {
		var x ev
		if e.Kind != tether.EntryPush || json.Unmarshal(e.Event, &x) != nil {
			t.Fatalf("entry %+v", e)
		}
		got = append(got, x)
	}
	if got[0].PushID != ids[0] || !got[0].Collapsed || len(got[0].Payload) != 0 {
		t.Fatalf("older push of match-1 not collapsed: %+v", got[0])
	}
	if got[1].PushID != ids[1] || got[1].Collapsed || string(got[1].Payload) != `{"score":"2:0"}` {
		t.Fatalf("newest push of match-1: %+v", got[1])
	}
	if got[2].PushID != ids[2] || got[2].Collapsed || string(got[2].Payload) != `{"score":"0:0"}` {
		t.Fatalf("push of match-2: %+v", got[2])
	}
}
