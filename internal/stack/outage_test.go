package stack

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/metrics"
)

// The drill: the database restarts for longer than push/client's
// old four attempts (about 2 s of backoff), and an application's Send
// neither fails nor stores the message twice. The API answers 503 with
// Retry-After meanwhile; the client retries with the same client message id.
func TestOutage_ClientSendRidesOutADatabaseRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.StartMariaDB(t)
	dsn := db.Database(t)
	s, err := store.Open(ctx, store.Config{Driver: "mysql", DSN: dsn}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, prefix := testenv.Redis(t)
	priv, _ := keyPair(t)
	a, err := StartAPI(ctx, apiConfig(t, dsn, prefix, priv), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	base := "http://" + a.HTTPAddr
	api := client.NewAPI(base, nil)
	bob, err := api.Register(ctx, "bob", password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice := client.New(client.Config{APIBase: base, PushAddr: "127.0.0.1:1", Username: "alice", Password: password,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := alice.AccessToken(ctx); err != nil {
		t.Fatal(err)
	}

	db.Kill()
	const outage = 4 * time.Second
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(outage)
		db.Start()
	}()
	began := time.Now()
	m, created, err := alice.Send(ctx, bob.ID, "during-the-restart", tether.MessageText, json.RawMessage(`{"text":"still there?"}`))
	<-restarted
	if err != nil {
		t.Fatalf("Send across a %s database restart: %v", outage, err)
	}
	if took := time.Since(began); took < outage {
		t.Fatalf("Send returned after %s, before the database was back", took)
	}
	if !created || m.ClientMsgID != "during-the-restart" {
		t.Fatalf("Send = %+v, created %v", m, created)
	}
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE client_msg_id = ?", "during-the-restart").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the message is stored %d times (%v), want once", n, err)
	}
}
