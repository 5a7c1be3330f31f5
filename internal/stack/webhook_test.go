package stack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/webhook"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

// hookReceiver records the webhook requests it gets, verifying each.
type hookReceiver struct {
	mu     sync.Mutex
	bodies []webhook.Payload
	bad    []string
}

func newHookReceiver(t *testing.T, secret string) (*hookReceiver, string) {
	r := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p webhook.Payload
		err := webhook.Verify(secret, req.Header, body, time.Minute, time.Now())
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.bodies = append(r.bodies, p)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *hookReceiver) got() ([]webhook.Payload, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Payload(nil), r.bodies...), append([]string(nil), r.bad...)
}

// sendToOffline registers alice and bob and sends bob, who never connects, a message.
func sendToOffline(t *testing.T, httpAddr string) (msg *tether.Message, bob int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rest := client.NewAPI("http://"+httpAddr, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := rest.Register(ctx, u, password); err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
	}
	tok, err := rest.Login(ctx, "alice", password, "alice-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	b, err := rest.UserByName(ctx, tok.AccessToken, "bob")
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err = rest.Send(ctx, tok.AccessToken, b.ID, "m-1", tether.MessageText, json.RawMessage(`{"text":"are you there?"}`))
	if err != nil {
		t.Fatal(err)
	}
	return msg, b.ID
}

func checkOneHook(t *testing.T, rcv *hookReceiver, msg *tether.Message, bob int64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool { ok, bad := rcv.got(); return len(ok)+len(bad) > 0 }, "no webhook call")
	time.Sleep(300 * time.Millisecond)
	ok, bad := rcv.got()
	if len(bad) != 0 || len(ok) != 1 {
		t.Fatalf("webhook calls: %+v, refused: %v", ok, bad)
	}
	var m tether.Message
	if err := json.Unmarshal(ok[0].Message, &m); err != nil || ok[0].UserID != bob || m.ID != msg.ID || ok[0].Type != webhook.TypeMessageOffline {
		t.Fatalf("payload %+v (%v)", ok[0], err)
	}
}

func TestStartDev_WebhookNotifiesAnOfflineRecipient(t *testing.T) {
	t.Parallel()
	rcv, url := newHookReceiver(t, "dev-secret")
	c := devConfig(t, t.TempDir())
	c.Webhook.URL, c.Webhook.Secret = url, "dev-secret"
	d, err := StartDev(context.Background(), c, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	msg, bob := sendToOffline(t, d.HTTPAddr)
	checkOneHook(t, rcv, msg, bob)
}

func TestStartAPI_WebhookNotifiesAnOfflineRecipient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, _ := keyPair(t)
	rcv, url := newHookReceiver(t, "api-secret")
	c := apiConfig(t, dsn, prefix, priv)
	c.Webhook = config.Webhook{URL: url, Secret: "api-secret", MaxAttempts: 3, Timeout: 2 * time.Second}
	a, err := StartAPI(ctx, c, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	msg, bob := sendToOffline(t, a.HTTPAddr)
	checkOneHook(t, rcv, msg, bob)
}

func TestStartDev_WithoutWebhookURLQueuesNothing(t *testing.T) {
	t.Parallel()
	c := devConfig(t, t.TempDir())
	d, err := StartDev(context.Background(), c, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	sendToOffline(t, d.HTTPAddr)
	testenv.Eventually(t, 10*time.Second, func() bool { n, _ := d.db.OutboxLen(context.Background()); return n == 0 }, "outbox not relayed")
	if ds, err := d.db.WebhookDeliveries(context.Background(), "", 10); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
}
