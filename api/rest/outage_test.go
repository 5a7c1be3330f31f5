package rest

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
)

// A database outage is a dependency failure, not a fault of ours: every
// request it breaks answers 503 unavailable with Retry-After, and a retry
// with the same client message id after the database is back stores the
// message once. The test kills its own mariadbd, never the shared one.
func TestOutage_DatabaseDownIs503WithRetryAfterAndRetryStoresOnce(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	e := newEnvDSN(t, store.DriverMySQL, db.Database(t), slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	a, b := e.signup("alice"), e.signup("bob")
	e.send(a, b.ID, "before", "hi")

	send := func(cid string) resp {
		return e.do(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken, Body: map[string]any{
			"recipient_id": b.ID, "client_msg_id": cid, "type": "text", "content": map[string]string{"text": "during"},
		}})
	}
	unavailable := func(what string, r resp) {
		t.Helper()
		p := r.wantProblem(t, 503, tether.EUNAVAILABLE)
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 without Retry-After: %+v", what, p)
		}
	}

	// Killed with idle connections in the pool: the first statement finds
	// its connection dead, the next ones cannot connect.
	db.Kill()
	for i := range 3 {
		unavailable(fmt.Sprintf("send %d", i), send("during"))
	}
	unavailable("sync", e.do(req{Method: "GET", Path: "/v1/sync?since=0", Token: b.Tokens.AccessToken}))
	unavailable("login", e.do(req{Method: "POST", Path: "/v1/sessions", Body: map[string]string{
		"username": "alice", "password": "password-alice", "device_id": "d2", "platform": "ios",
	}}))
	e.do(req{Method: "GET", Path: "/readyz"}).wantProblem(t, 503, tether.EUNAVAILABLE)

	db.Start()
	r := send("during")
	if r.Status != 201 && r.Status != 200 {
		t.Fatalf("send after the restart: %d %s", r.Status, r.Body)
	}
	send("during").decode(t, 200, nil) // and a second retry is the same message
	var page tether.SyncPage
	e.do(req{Method: "GET", Path: "/v1/sync?since=0", Token: b.Tokens.AccessToken}).decode(t, 200, &page)
	var ids []string
	for _, en := range page.Entries {
		if en.Message != nil {
			ids = append(ids, en.Message.ClientMsgID)
		}
	}
	if fmt.Sprint(ids) != "[before during]" {
		t.Fatalf("bob's messages after the outage: %v", ids)
	}
}

// Killing the database under sends in flight (connections reset
// mid-transaction: "invalid connection") answers each send 201, 200 or 503,
// never 500, and retrying the refused ones afterwards stores every message
// exactly once.
func TestOutage_KillUnderConcurrentSendsAnswersOnly2xxOr503(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	e := newEnvDSN(t, store.DriverMySQL, db.Database(t), slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	a, b := e.signup("alice"), e.signup("bob")
	const senders, perSender = 4, 25
	send := func(cid string) (resp, error) {
		return e.serve(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken, Body: map[string]any{
			"recipient_id": b.ID, "client_msg_id": cid, "type": "text", "content": map[string]string{"text": cid},
		}})
	}
	type outcome struct {
		cid    string
		status int
		retry  string
	}
	results := make(chan outcome, senders*perSender)
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				if s == 0 && i == perSender/4 {
					db.Kill()
					close(killed)
				}
				cid := fmt.Sprintf("s%d-%d", s, i)
				r, err := send(cid)
				if err != nil {
					t.Error(err)
					return
				}
				results <- outcome{cid, r.Status, r.Header.Get("Retry-After")}
			}
		}()
	}
	wg.Wait()
	close(results)
	<-killed
	db.Start()
	var refused []string
	for o := range results {
		switch {
		case o.status == 201 || o.status == 200:
		case o.status == 503 && o.retry != "":
			refused = append(refused, o.cid)
		default:
			t.Errorf("send %s: status %d (Retry-After %q); want 2xx or 503 with Retry-After", o.cid, o.status, o.retry)
		}
	}
	if len(refused) == 0 {
		t.Fatal("no send saw the outage")
	}
	for _, cid := range refused {
		if r, err := send(cid); err != nil || (r.Status != 201 && r.Status != 200) {
			t.Fatalf("retry of %s after the restart: %v %d %s", cid, err, r.Status, r.Body)
		}
	}
	seen := map[string]int{}
	for since := uint64(0); ; {
		var page tether.SyncPage
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/sync?since=%d&limit=200", since), Token: b.Tokens.AccessToken}).decode(t, 200, &page)
		for _, en := range page.Entries {
			if en.Message != nil {
				seen[en.Message.ClientMsgID]++
			}
		}
		since = page.NextSince
		if !page.HasMore {
			break
		}
	}
	if len(seen) != senders*perSender {
		t.Errorf("bob has %d distinct messages, want %d", len(seen), senders*perSender)
	}
	for cid, n := range seen {
		if n != 1 {
			t.Errorf("message %s stored %d times", cid, n)
		}
	}
	t.Logf("%d of %d sends refused with 503 during the outage", len(refused), senders*perSender)
}

// A database that stops answering without closing its connections (a
// frozen host, a blackholed network) costs a request the server's request
// timeout and then a 503 with Retry-After, not a request held for ever; once
// it answers again, so does the API.
func TestOutage_StalledDatabaseIs503AfterTheRequestTimeout(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	e := newEnvDSN(t, store.DriverMySQL, db.Database(t), slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}),
		func(d *Deps, _ *redis.Client, _ string) { d.RequestTimeout = 2 * time.Second })
	a, b := e.signup("alice"), e.signup("bob")
	e.send(a, b.ID, "before", "hi")

	db.Pause()
	resumed := false
	defer func() {
		if !resumed {
			db.Resume()
		}
	}()
	r := e.do(req{Method: "POST", Path: "/v1/messages", Token: a.Tokens.AccessToken, Body: map[string]any{
		"recipient_id": b.ID, "client_msg_id": "stalled", "type": "text", "content": map[string]string{"text": "anyone?"},
	}})
	r.wantProblem(t, 503, tether.EUNAVAILABLE)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	db.Resume()
	resumed = true
	e.send(a, b.ID, "stalled", "anyone?")
}
