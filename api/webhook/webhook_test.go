package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	stdsql "database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/go-sql-driver/mysql"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/api/webhook"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

const secret = "whsec-test-secret"

type env struct {
	cfg   store.Config
	db    *store.DB
	auth  tether.AuthService
	msgs  tether.MessageService
	reg   *route.Registry
	relay *relay.Relay
	ctx   context.Context
}

func newEnv(t *testing.T, driver string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cfg := store.Config{Driver: driver, DSN: filepath.Join(t.TempDir(), "tether.db")}
	if driver == store.DriverMySQL {
		cfg.DSN = testenv.MySQL(t)
	}
	db, err := store.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := token.GenerateKey()
	rdb, prefix := testenv.Redis(t)
	reg := route.NewRegistry(rdb, prefix, 30*time.Second)
	return &env{
		cfg: cfg, db: db, ctx: ctx, reg: reg,
		auth:  store.NewAuthService(db, token.NewSigner(priv, time.Minute), time.Hour, nil),
		msgs:  store.NewMessageService(db, nil),
		relay: relay.New(relay.Config{NotifyOffline: true}, db, reg, stream.NewRedis(rdb, prefix, stream.Caps{}), nil, slog.Default()),
	}
}

// eachDB runs fn on MariaDB and on SQLite, in parallel.
func eachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, driver := range []string{store.DriverMySQL, store.DriverSQLite} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, driver))
		})
	}
}

func (e *env) user(t *testing.T, name string) int64 {
	t.Helper()
	u, err := e.auth.Register(e.ctx, name, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// online registers a live session of uid on an alive node, as a push node would.
func (e *env) online(t *testing.T, uid int64) {
	t.Helper()
	if err := e.reg.Heartbeat(e.ctx, route.Info{ID: "n1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.reg.AddSession(e.ctx, uid, route.Session{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: fmt.Sprint("c", uid)}); err != nil {
		t.Fatal(err)
	}
}

// sendAndRelay sends a message and relays the outbox, queuing its offline notices.
func (e *env) sendAndRelay(t *testing.T, from, to int64, cid string) *tether.Message {
	t.Helper()
	m, _, err := e.msgs.Send(e.ctx, tether.Caller{UserID: from}, tether.NewMessage{
		RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"` + cid + `"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.relay.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// call is one request the receiver got.
type call struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is a local webhook endpoint answering with the statuses of
// answer in turn (the last one repeats).
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []call
}

func newReceiver(t *testing.T, delay time.Duration, answer ...int) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, call{at: time.Now(), header: req.Header.Clone(), body: body})
		n := len(r.calls)
		r.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(answer[min(n, len(answer))-1])
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// start runs a worker on e's database until the test ends.
func (e *env) start(t *testing.T, cfg webhook.Config, m *metrics.Metrics) *webhook.Worker {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	w, err := webhook.New(cfg, e.db, m, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// verify checks a request's signature the way a receiver in any language
// would: HMAC-SHA256 over "timestamp.body" with the shared secret, hex, "v1=".
func verify(t *testing.T, c call) {
	t.Helper()
	ts := c.header.Get("Tether-Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		t.Fatalf("timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(c.body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if got := c.header.Get("Tether-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if err := webhook.Verify(secret, c.header, c.body, 5*time.Minute, time.Now()); err != nil {
		t.Fatalf("webhook.Verify: %v", err)
	}
	if webhook.Verify("other secret", c.header, c.body, 5*time.Minute, time.Now()) == nil {
		t.Fatal("webhook.Verify accepted another secret")
	}
	tampered := append([]byte(nil), c.body...)
	tampered[len(tampered)-2] ^= 1
	if webhook.Verify(secret, c.header, tampered, 5*time.Minute, time.Now()) == nil {
		t.Fatal("webhook.Verify accepted a changed body")
	}
	if webhook.Verify(secret, c.header, c.body, 5*time.Minute, time.Now().Add(time.Hour)) == nil {
		t.Fatal("webhook.Verify accepted a replay an hour later")
	}
}

func TestWorker_MessageToOfflineUserCallsTheHookOnceSigned(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b := e.user(t, "alice"), e.user(t, "bob")
		rcv := newReceiver(t, 0, http.StatusNoContent)
		m := metrics.New()
		e.start(t, webhook.Config{URL: rcv.srv.URL + "/hook?token=x"}, m)
		msg := e.sendAndRelay(t, a, b, "hello")

		testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.got()) >= 1 }, "no webhook call")
		time.Sleep(200 * time.Millisecond) // a second call would come within the poll interval
		calls := rcv.got()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		c := calls[0]
		verify(t, c)
		if ct := c.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		var p struct {
			ID        string         `json:"id"`
			Type      string         `json:"type"`
			UserID    int64          `json:"user_id"`
			Message   tether.Message `json:"message"`
			CreatedAt time.Time      `json:"created_at"`
		}
		if err := json.Unmarshal(c.body, &p); err != nil {
			t.Fatal(err)
		}
		wantID := webhook.DeliveryID(msg.ID, b)
		if p.ID != wantID || c.header.Get("Tether-Webhook-Id") != wantID || p.Type != "message.offline" || p.UserID != b {
			t.Fatalf("payload %s, id header %q", c.body, c.header.Get("Tether-Webhook-Id"))
		}
		if p.Message.ID != msg.ID || p.Message.SenderID != a || p.Message.RecipientID != b || string(p.Message.Content) != `{"text":"hello"}` || p.CreatedAt.IsZero() {
			t.Fatalf("payload message %+v", p)
		}
		testenv.Eventually(t, 5*time.Second, func() bool {
			ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookDelivered, 10)
			return len(ds) == 1
		}, "delivery not marked delivered")
		if n := metric(t, m, "tether_webhook_sent_total"); n != 1 {
			t.Fatalf("sent counter %v", n)
		}
	})
}

// metric reads a registered counter or gauge by name.
func metric(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			mt := mf.GetMetric()[0]
			if c := mt.GetCounter(); c != nil {
				return c.GetValue()
			}
			return mt.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestWorker_OnlineRecipientAndTheSenderAreNeverCalled(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b, c := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
		e.online(t, b)
		rcv := newReceiver(t, 0, http.StatusOK)
		e.start(t, webhook.Config{URL: rcv.srv.URL}, nil)
		e.sendAndRelay(t, a, b, "to-online") // alice is offline too, but she sent it
		last := e.sendAndRelay(t, b, c, "to-offline")

		testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.got()) >= 1 }, "no webhook call")
		time.Sleep(200 * time.Millisecond)
		calls := rcv.got()
		if len(calls) != 1 || calls[0].header.Get("Tether-Webhook-Id") != webhook.DeliveryID(last.ID, c) {
			t.Fatalf("calls: %d, first id %q", len(calls), calls[0].header.Get("Tether-Webhook-Id"))
		}
	})
}

func TestWorker_RetriesServerErrorsWithGrowingDelaysThenDeliversOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b := e.user(t, "alice"), e.user(t, "bob")
		rcv := newReceiver(t, 0, 500, 500, 200)
		m := metrics.New()
		// Jitter at its ceiling makes the delays 200ms, then 400ms.
		e.start(t, webhook.Config{URL: rcv.srv.URL, MinBackoff: 200 * time.Millisecond, Jitter: func(d time.Duration) time.Duration { return d }}, m)
		e.sendAndRelay(t, a, b, "retry")

		testenv.Eventually(t, 15*time.Second, func() bool {
			ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookDelivered, 10)
			return len(ds) == 1
		}, "not delivered")
		time.Sleep(300 * time.Millisecond)
		calls := rcv.got()
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3", len(calls))
		}
		id := calls[0].header.Get("Tether-Webhook-Id")
		for _, c := range calls {
			verify(t, c)
			if c.header.Get("Tether-Webhook-Id") != id {
				t.Fatalf("delivery id changed between attempts: %q, %q", id, c.header.Get("Tether-Webhook-Id"))
			}
		}
		gap1, gap2 := calls[1].at.Sub(calls[0].at), calls[2].at.Sub(calls[1].at)
		if gap1 < 200*time.Millisecond || gap2 < 400*time.Millisecond || gap2 <= gap1 {
			t.Fatalf("retry delays %v then %v, want >= 200ms then >= 400ms", gap1, gap2)
		}
		ds, _ := e.db.WebhookDeliveries(e.ctx, "", 10)
		if len(ds) != 1 || ds[0].Attempts != 3 {
			t.Fatalf("deliveries %+v", ds)
		}
		if r, s := metric(t, m, "tether_webhook_retried_total"), metric(t, m, "tether_webhook_sent_total"); r != 2 || s != 1 {
			t.Fatalf("retried %v sent %v, want 2 and 1", r, s)
		}
	})
}

func TestWorker_ClientErrorFailsAtOnceAndIsKept(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b := e.user(t, "alice"), e.user(t, "bob")
		rcv := newReceiver(t, 0, http.StatusBadRequest)
		m := metrics.New()
		e.start(t, webhook.Config{URL: rcv.srv.URL, MinBackoff: 10 * time.Millisecond}, m)
		e.sendAndRelay(t, a, b, "bad")

		testenv.Eventually(t, 10*time.Second, func() bool {
			ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookFailed, 10)
			return len(ds) == 1
		}, "not failed")
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.got()); n != 1 {
			t.Fatalf("%d calls, want 1 (no retry after 400)", n)
		}
		ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookFailed, 10)
		if ds[0].Attempts != 1 || ds[0].LastError == "" {
			t.Fatalf("failed delivery %+v", ds[0])
		}
		if f := metric(t, m, "tether_webhook_failed_total"); f != 1 {
			t.Fatalf("failed counter %v", f)
		}
	})
}

func TestWorker_GivesUpAfterMaxAttempts(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b := e.user(t, "alice"), e.user(t, "bob")
		rcv := newReceiver(t, 0, http.StatusServiceUnavailable)
		e.start(t, webhook.Config{URL: rcv.srv.URL, MaxAttempts: 3, MinBackoff: 10 * time.Millisecond}, nil)
		e.sendAndRelay(t, a, b, "down")
		testenv.Eventually(t, 10*time.Second, func() bool {
			ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookFailed, 10)
			return len(ds) == 1
		}, "not failed")
		time.Sleep(200 * time.Millisecond)
		if n := len(rcv.got()); n != 3 {
			t.Fatalf("%d calls, want 3", n)
		}
	})
}

func TestWorker_TimeoutIsRetried(t *testing.T) {
	e := newEnv(t, store.DriverSQLite)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	slow := newReceiver(t, 500*time.Millisecond, http.StatusOK)
	e.start(t, webhook.Config{URL: slow.srv.URL, Timeout: 100 * time.Millisecond, MaxAttempts: 2, MinBackoff: 10 * time.Millisecond}, nil)
	e.sendAndRelay(t, a, b, "slow")
	testenv.Eventually(t, 10*time.Second, func() bool {
		ds, _ := e.db.WebhookDeliveries(e.ctx, store.WebhookFailed, 10)
		return len(ds) == 1
	}, "timeouts did not fail the delivery")
	if n := len(slow.got()); n != 2 {
		t.Fatalf("%d calls, want 2 (a timeout is retried)", n)
	}
}

func TestWorker_TwoWorkersSendEachDeliveryExactlyOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		const total = 30
		a := e.user(t, "alice")
		rcpts := make([]int64, 3)
		for i := range rcpts {
			rcpts[i] = e.user(t, fmt.Sprint("rcpt", i))
		}
		for i := range total {
			e.sendAndRelay(t, a, rcpts[i%len(rcpts)], fmt.Sprint("m", i))
		}
		rcv := newReceiver(t, 5*time.Millisecond, http.StatusOK)
		for range 2 {
			e.start(t, webhook.Config{URL: rcv.srv.URL, Concurrency: 3}, nil)
		}
		testenv.Eventually(t, 20*time.Second, func() bool {
			n, _ := e.db.WebhookBacklog(e.ctx)
			return n == 0
		}, "backlog not drained")
		time.Sleep(200 * time.Millisecond)
		seen := map[string]int{}
		for _, c := range rcv.got() {
			seen[c.header.Get("Tether-Webhook-Id")]++
		}
		if len(seen) != total {
			t.Fatalf("%d distinct deliveries sent, want %d", len(seen), total)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("delivery %s sent %d times", id, n)
			}
		}
	})
}

func TestBackoff_FullJitterUnderADoublingCeilingAndRetryAfterWins(t *testing.T) {
	var ceilings []time.Duration
	w, err := webhook.New(webhook.Config{
		URL: "https://example.com/hook", Secret: "s", MinBackoff: time.Second, MaxBackoff: time.Minute,
		Jitter: func(d time.Duration) time.Duration { ceilings = append(ceilings, d); return d / 2 },
	}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for attempt, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 7: 30 * time.Second, 100: 30 * time.Second} {
		if got := w.Backoff(attempt, 0); got != want {
			t.Errorf("attempt %d: backoff %v, want %v", attempt, got, want)
		}
	}
	if got := w.Backoff(1, 10*time.Second); got != 10*time.Second {
		t.Errorf("Retry-After 10s: backoff %v", got)
	}
	if got := w.Backoff(1, time.Hour); got != time.Minute {
		t.Errorf("Retry-After 1h: backoff %v, want the 1m cap", got)
	}
	for _, st := range []int{0, 500, 502, 503, 408, 429} {
		if !webhook.Retryable(st) {
			t.Errorf("status %d not retryable", st)
		}
	}
	for _, st := range []int{301, 400, 401, 403, 404, 410, 422} {
		if webhook.Retryable(st) {
			t.Errorf("status %d retryable", st)
		}
	}
}

func TestWorker_HonoursRetryAfter(t *testing.T) {
	e := newEnv(t, store.DriverSQLite)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	e.start(t, webhook.Config{URL: srv.URL, MinBackoff: 10 * time.Millisecond}, nil)
	before := time.Now()
	e.sendAndRelay(t, a, b, "limited")
	testenv.Eventually(t, 10*time.Second, func() bool {
		ds, _ := e.db.WebhookDeliveries(e.ctx, "", 10)
		return len(ds) == 1 && ds[0].LastError != ""
	}, "no failed attempt recorded")
	ds, _ := e.db.WebhookDeliveries(e.ctx, "", 10)
	if ds[0].State != store.WebhookPending || ds[0].NextAttemptAt.Before(before.Add(119*time.Second)) {
		t.Fatalf("after 429 with Retry-After 120: %+v", ds[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestNew_RefusesABadURLOrNoSecret(t *testing.T) {
	for _, c := range []webhook.Config{
		{URL: "", Secret: "s"}, {URL: "ftp://x/y", Secret: "s"}, {URL: "/relative", Secret: "s"}, {URL: "https://x.example/hook"},
	} {
		if _, err := webhook.New(c, nil, nil, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// mute sets a user's conversation muted with plain SQL, as the conversation
// service would.
func (e *env) mute(t *testing.T, uid int64, conv string) {
	t.Helper()
	driver, dsn := "mysql", e.cfg.DSN
	if e.cfg.Driver == store.DriverSQLite {
		driver = "sqlite"
	}
	raw, err := stdsql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res, err := raw.ExecContext(e.ctx, "UPDATE conversations SET muted = 1 WHERE user_id = ? AND conversation_id = ?", uid, conv)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("muted %d conversation rows, want 1", n)
	}
}

func TestWorker_MutedConversationIsNotNotified(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		a, b := e.user(t, "alice"), e.user(t, "bob")
		rcv := newReceiver(t, 0, http.StatusOK)
		e.start(t, webhook.Config{URL: rcv.srv.URL}, nil)
		first := e.sendAndRelay(t, a, b, "before-mute")
		testenv.Eventually(t, 10*time.Second, func() bool { return len(rcv.got()) == 1 }, "no webhook call before the mute")
		e.mute(t, b, first.ConversationID)
		e.sendAndRelay(t, a, b, "muted")
		time.Sleep(300 * time.Millisecond)
		if calls := rcv.got(); len(calls) != 1 {
			t.Fatalf("%d calls, want 1: the muted conversation's message must not notify", len(calls))
		}
		if ds, _ := e.db.WebhookDeliveries(e.ctx, "", 10); len(ds) != 1 {
			t.Fatalf("deliveries %+v", ds)
		}
	})
}
