package relay_test

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/relay"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

type env struct {
	dsn     string
	db      *store.DB
	auth    tether.AuthService
	msgs    tether.MessageService
	rdb     *redis.Client
	reg     *route.Registry
	streams *stream.Redis
	ctx     context.Context
	users   map[string]int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	dsn := testenv.MySQL(t)
	db, err := store.Open(ctx, store.Config{Driver: store.DriverMySQL, DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := token.GenerateKey()
	rdb, prefix := testenv.Redis(t)
	return &env{
		dsn: dsn, db: db, ctx: ctx, rdb: rdb, users: map[string]int64{},
		auth: store.NewAuthService(db, token.NewSigner(priv, time.Minute), time.Hour, nil),
		msgs: store.NewMessageService(db, nil),
		reg:  route.NewRegistry(rdb, prefix, 30*time.Second),

		streams: stream.NewRedis(rdb, prefix, stream.Caps{}),
	}
}

func (e *env) user(t *testing.T, name string) int64 {
	t.Helper()
	u, err := e.auth.Register(e.ctx, name, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	e.users[name] = u.ID
	return u.ID
}

func (e *env) online(t *testing.T, uid int64, device, node string) {
	t.Helper()
	if err := e.reg.Heartbeat(e.ctx, route.Info{ID: node}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.reg.AddSession(e.ctx, uid, route.Session{DeviceID: device, NodeID: node, Platform: "ios", ConnID: device + "@" + node}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) send(t *testing.T, from, to int64, cid string) *tether.Message {
	t.Helper()
	m, _, err := e.msgs.Send(e.ctx, tether.Caller{UserID: from}, tether.NewMessage{
		RecipientID: to, ClientMsgID: cid, Type: tether.MessageText, Content: []byte(`{"text":"hi"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) relay(cfg relay.Config) *relay.Relay {
	return relay.New(cfg, e.db, e.reg, e.streams, metrics.New(), slog.Default())
}

// jobs reads every job on a node's stream.
func (e *env) jobs(t *testing.T, node string) []job.Job {
	t.Helper()
	msgs, err := e.rdb.XRange(e.ctx, e.streams.Keys().Node(node), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []job.Job
	for _, m := range msgs {
		s, _ := m.Values[stream.Field].(string)
		j, err := job.Decode([]byte(s))
		if err != nil {
			t.Fatalf("stream entry %s: %v", m.ID, err)
		}
		out = append(out, j)
	}
	return out
}

func (e *env) outboxLen(t *testing.T) int64 {
	t.Helper()
	n, err := e.db.OutboxLen(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sortTargets(ts []job.Target) []job.Target {
	slices.SortFunc(ts, func(a, b job.Target) int { return int(a.UserID - b.UserID) })
	return ts
}

func TestRelay_PublishesEachRowToTheNodesOfLiveSessionsWithTheirVersions(t *testing.T) {
	e := newEnv(t)
	a, b, c := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
	e.online(t, a, "a-phone", "n1")
	e.online(t, b, "b-phone", "n1")
	e.online(t, b, "b-laptop", "n1") // two devices on one node: still one target
	e.online(t, b, "b-web", "n2")
	m1 := e.send(t, a, b, "m1") // a v1, b v1
	m2 := e.send(t, a, c, "m2") // a v2, c v1 (offline)

	ctx, cancel := context.WithCancel(e.ctx)
	r := e.relay(relay.Config{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	r.Kick()
	testenv.Eventually(t, 10*time.Second, func() bool { return e.outboxLen(t) == 0 && r.Published() == 3 }, "outbox not relayed")

	n1 := e.jobs(t, "n1")
	if len(n1) != 2 {
		t.Fatalf("n1 jobs: %+v", n1)
	}
	if n1[0].ID == n1[1].ID || n1[0].Kind != job.KindMessage || n1[0].EnqueuedMS == 0 {
		t.Fatalf("n1 jobs: %+v", n1)
	}
	want := map[int64][]job.Target{
		m1.ID: {{UserID: a, Version: 1}, {UserID: b, Version: 1}},
		m2.ID: {{UserID: a, Version: 2}}, // carol is offline
	}
	for _, j := range n1 {
		var body struct {
			Kind    string         `json:"kind"`
			Message tether.Message `json:"message"`
		}
		if err := json.Unmarshal(j.Body, &body); err != nil || body.Kind != tether.EntryMessage {
			t.Fatalf("body %s: %v", j.Body, err)
		}
		if got := sortTargets(j.Targets); !slices.Equal(got, sortTargets(want[body.Message.ID])) {
			t.Fatalf("message %d targets on n1: %+v, want %+v", body.Message.ID, got, want[body.Message.ID])
		}
	}
	n2 := e.jobs(t, "n2")
	if len(n2) != 1 || !slices.Equal(n2[0].Targets, []job.Target{{UserID: b, Version: 1}}) || n2[0].ID != strconv.FormatInt(idOf(t, n1, m1.ID), 10) {
		t.Fatalf("n2 jobs: %+v", n2)
	}
	// Every target's newest version was announced, offline users included.
	for uid, v := range map[int64]uint64{a: 2, b: 1, c: 1} {
		got, err := e.rdb.Get(e.ctx, e.reg.Keys().Version(uid)).Uint64()
		if err != nil || got != v {
			t.Fatalf("version key of %d: %d %v, want %d", uid, got, err, v)
		}
	}
}

// idOf returns the job id (outbox id) of the job carrying message msgID.
func idOf(t *testing.T, jobs []job.Job, msgID int64) int64 {
	t.Helper()
	for _, j := range jobs {
		var body struct {
			Message tether.Message `json:"message"`
		}
		_ = json.Unmarshal(j.Body, &body)
		if body.Message.ID == msgID {
			id, _ := strconv.ParseInt(j.ID, 10, 64)
			return id
		}
	}
	t.Fatalf("no job for message %d", msgID)
	return 0
}

func TestRelay_OfflineUsersProduceNoStreamEntries(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	e.online(t, e.user(t, "carol"), "c-phone", "n1") // a live node, but not theirs
	for i := range 5 {
		e.send(t, a, b, fmt.Sprint(i))
	}
	r := e.relay(relay.Config{})
	if err := r.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.outboxLen(t) != 0 || r.Published() != 0 {
		t.Fatalf("outbox %d, published %d", e.outboxLen(t), r.Published())
	}
	keys, err := e.rdb.Keys(e.ctx, e.streams.Keys().Node("*")).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if n := e.rdb.XLen(e.ctx, k).Val(); n != 0 {
			t.Fatalf("stream %s has %d entries", k, n)
		}
	}
}

func TestRelay_RowsSurviveAFailedPublishAndALaterRelayPublishesAll(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	e.online(t, b, "b-phone", "n1")
	// Committed while no relay runs: as if the process died after commit.
	for i := range 3 {
		e.send(t, a, b, fmt.Sprint(i))
	}
	dead := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	_ = dead.Close()
	broken := relay.New(relay.Config{}, e.db, route.NewRegistry(dead, e.reg.Keys().Prefix, 30*time.Second),
		stream.NewRedis(dead, e.reg.Keys().Prefix, stream.Caps{}), metrics.New(), slog.Default())
	if err := broken.Drain(e.ctx); err == nil {
		t.Fatal("publishing through a closed Redis client succeeded")
	}
	if n := e.outboxLen(t); n != 3 {
		t.Fatalf("failed publish lost rows: %d left, want 3", n)
	}
	// Run also keeps going after failures, backing off, and stops with its context.
	ctx, cancel := context.WithCancel(e.ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- broken.Run(ctx) }()
	broken.Kick()
	cancel()
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}

	good := e.relay(relay.Config{})
	if err := good.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	jobs := e.jobs(t, "n1")
	if e.outboxLen(t) != 0 || len(jobs) != 3 {
		t.Fatalf("outbox %d, jobs %+v", e.outboxLen(t), jobs)
	}
	for i, j := range jobs {
		if !slices.Equal(j.Targets, []job.Target{{UserID: b, Version: uint64(i + 1)}}) {
			t.Fatalf("job %d targets %+v", i, j.Targets)
		}
	}
}

func TestRelay_TwoRelaysPublishEveryRowExactlyOnce(t *testing.T) {
	e := newEnv(t)
	const n = 120
	rcpt := e.user(t, "rcpt")
	e.online(t, rcpt, "r-phone", "n1")
	senders := []int64{e.user(t, "snd1"), e.user(t, "snd2"), e.user(t, "snd3")}

	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	relays := []*relay.Relay{e.relay(relay.Config{BatchSize: 7, PollInterval: 20 * time.Millisecond}), e.relay(relay.Config{BatchSize: 7, PollInterval: 20 * time.Millisecond})}
	for _, r := range relays {
		wg.Go(func() { _ = r.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	var sends sync.WaitGroup
	for k, s := range senders {
		sends.Go(func() {
			for i := range n / len(senders) {
				if _, _, err := e.msgs.Send(e.ctx, tether.Caller{UserID: s}, tether.NewMessage{
					RecipientID: rcpt, ClientMsgID: fmt.Sprint(k, "-", i), Type: tether.MessageText, Content: []byte(`{"text":"x"}`),
				}); err != nil {
					t.Error(err)
					return
				}
				relays[i%2].Kick()
			}
		})
	}
	sends.Wait()
	testenv.Eventually(t, 20*time.Second, func() bool {
		return e.outboxLen(t) == 0 && relays[0].Published()+relays[1].Published() >= n
	}, "outbox not drained")
	cancel()
	wg.Wait()

	seen := map[string]int{}
	versions := map[uint64]int{}
	for _, j := range e.jobs(t, "n1") {
		seen[j.ID]++
		for _, tg := range j.Targets {
			versions[tg.Version]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("job %s published %d times", id, c)
		}
	}
	for v := uint64(1); v <= n; v++ {
		if versions[v] != 1 {
			t.Fatalf("version %d published %d times", v, versions[v])
		}
	}
	if relays[0].Published() == 0 || relays[1].Published() == 0 {
		t.Logf("one relay did all the work (%d/%d)", relays[0].Published(), relays[1].Published())
	}
}

func TestRelay_DropsUndecodableRowsWithoutBlockingOthers(t *testing.T) {
	e := newEnv(t)
	a, b := e.user(t, "alice"), e.user(t, "bob")
	e.online(t, b, "b-phone", "n1")
	raw, err := stdsql.Open("mysql", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(e.ctx, "INSERT INTO outbox (created_at, payload) VALUES (?, ?)", time.Now().UTC(), "{broken"); err != nil {
		t.Fatal(err)
	}
	e.send(t, a, b, "after")
	r := e.relay(relay.Config{})
	if err := r.Drain(e.ctx); err != nil {
		t.Fatal(err)
	}
	if e.outboxLen(t) != 0 || len(e.jobs(t, "n1")) != 1 {
		t.Fatalf("outbox %d, jobs %+v", e.outboxLen(t), e.jobs(t, "n1"))
	}
}
