package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

const waitFor = 10 * time.Second

type harness struct {
	t      *testing.T
	api    *fakeAPI
	push   *fakePush
	rec    *recorder
	c      *Client
	cancel context.CancelFunc
	errc   chan error
}

// start runs a Client against fresh fakes; mod adjusts its Config.
func start(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	return startWithAPI(t, nil, mod)
}

// startWithAPI is start with the fake API adjusted before Run can log in.
func startWithAPI(t *testing.T, apiMod func(*fakeAPI), mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, api: newFakeAPI(t), push: newFakePush(t), rec: &recorder{}, errc: make(chan error, 1)}
	if apiMod != nil {
		apiMod(h.api)
	}
	cfg := Config{
		APIBase: h.api.srv.URL, PushAddr: h.push.addr(),
		Username: "alice", Password: "correct horse", DeviceID: "dev-1", Platform: "desktop", AppVersion: "test",
		Handler:    h.rec.handle,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	h.c = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.errc <- h.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.errc:
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) eventually(cond func() bool, format string, args ...any) {
	h.t.Helper()
	testenv.Eventually(h.t, waitFor, cond, format, args...)
}

func (h *harness) delivered(n int) {
	h.t.Helper()
	h.eventually(func() bool { return len(h.rec.versions()) >= n }, "handler saw %v, want %d entries", lazy(func() any { return h.rec.versions() }), n)
}

// runErr waits for Run to return and gives its error.
func (h *harness) runErr() error {
	h.t.Helper()
	select {
	case err := <-h.errc:
		h.errc <- err // let Cleanup see it too
		return err
	case <-time.After(waitFor):
		h.t.Fatal("Run did not return")
		return nil
	}
}

func TestClient_HandshakeCarriesCredentialsAndDeliversPushes(t *testing.T) {
	h := start(t, nil)
	h.api.grow(3)
	fc := h.push.next()
	if fc.hello.Version != wire.ProtocolVersion || fc.hello.LastVersion != 0 || fc.hello.Token != "access-1" ||
		fc.hello.DeviceID != "dev-1" || fc.hello.Platform != "desktop" || fc.hello.AppVersion != "test" {
		t.Fatalf("hello = %+v", fc.hello)
	}
	fc.welcome(0, 0, 1000)
	fc.push(1, 2, 3)
	h.delivered(3)
	h.rec.requireExactly(t, 1, 3)
	if h.c.LastVersion() != 3 || h.c.UserID() != testUserID {
		t.Fatalf("LastVersion %d UserID %d", h.c.LastVersion(), h.c.UserID())
	}
	if _, _, syncs := h.api.counts(); len(syncs) != 0 {
		t.Fatalf("synced %v although nothing was missing", syncs)
	}
}

func TestClient_WelcomeAheadOfLastVersionTriggersSync(t *testing.T) {
	h := start(t, func(c *Config) { c.LastVersion = 2; c.SyncPageSize = 3 })
	h.api.grow(10)
	fc := h.push.next()
	if fc.hello.LastVersion != 2 {
		t.Fatalf("hello.LastVersion = %d, want the resume point 2", fc.hello.LastVersion)
	}
	fc.welcome(10, 0, 1000)
	h.delivered(8)
	h.rec.requireExactly(t, 3, 10)
	if _, _, syncs := h.api.counts(); len(syncs) != 3 || syncs[0] != 2 {
		t.Fatalf("sync requests since=%v, want 3 pages from 2", syncs)
	}
}

func TestClient_VersionUnknownFlagTriggersSync(t *testing.T) {
	h := start(t, nil)
	h.api.grow(4)
	fc := h.push.next()
	fc.welcome(0, wire.FlagVersionUnknown, 1000)
	h.delivered(4)
	h.rec.requireExactly(t, 1, 4)
}

func TestClient_GapInPushStreamSyncedOverRESTEachVersionOnceInOrder(t *testing.T) {
	h := start(t, nil)
	h.api.grow(10)
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	fc.push(1, 2, 5) // 3 and 4 lost in transit
	h.delivered(10)
	h.rec.requireExactly(t, 1, 10)
	if s := h.c.Stats(); s.GapsSynced < 1 {
		t.Fatalf("GapsSynced = %d, want >= 1", s.GapsSynced)
	}
	_, _, syncs := h.api.counts()
	if len(syncs) == 0 || syncs[0] != 2 {
		t.Fatalf("sync requests since=%v, want the first from 2", syncs)
	}
}

func TestClient_DuplicatePushAfterSyncDropped(t *testing.T) {
	h := start(t, nil)
	h.api.grow(6)
	fc := h.push.next()
	fc.welcome(6, 0, 1000) // behind: syncs 1..6
	h.delivered(6)
	dups := h.c.Stats().Duplicates
	fc.push(3, 4, 5, 6) // the same entries, late, over push
	h.api.grow(7)
	fc.push(7)
	h.delivered(7)
	h.rec.requireExactly(t, 1, 7)
	if got := h.c.Stats().Duplicates - dups; got != 4 {
		t.Fatalf("Duplicates grew by %d, want 4", got)
	}
}

func TestClient_UndecodablePushFetchedBySyncNotSkipped(t *testing.T) {
	h := start(t, nil)
	h.api.grow(3)
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	fc.push(1)
	fc.write(wire.AppendMessage(nil, 2, []byte("{not json")))
	fc.push(3)
	h.delivered(3)
	h.rec.requireExactly(t, 1, 3)
	if s := h.c.Stats(); s.BadPushBodies != 1 {
		t.Fatalf("BadPushBodies = %d, want 1", s.BadPushBodies)
	}
}

func TestClient_FailedSyncRetriedWhileConnected(t *testing.T) {
	h := start(t, nil)
	h.api.grow(5)
	h.api.mu.Lock()
	h.api.failSyncs = 2
	h.api.mu.Unlock()
	fc := h.push.next()
	fc.welcome(5, 0, 1000)
	h.delivered(5)
	h.rec.requireExactly(t, 1, 5)
	if s := h.c.Stats(); s.Connects != 1 {
		t.Fatalf("Connects = %d: a failed sync must not drop the connection", s.Connects)
	}
}

func TestClient_ShuttingDownReconnectsAndResumesFromLastVersion(t *testing.T) {
	h := start(t, nil)
	h.api.grow(3)
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	fc.push(1, 2, 3)
	h.delivered(3)
	h.api.grow(5) // 4 and 5 are committed while the client is away
	fc.end(wire.TypeClose, wire.CodeShuttingDown)

	fc2 := h.push.next()
	if fc2.hello.LastVersion != 3 {
		t.Fatalf("reconnect hello.LastVersion = %d, want 3", fc2.hello.LastVersion)
	}
	fc2.welcome(5, 0, 1000)
	h.delivered(5)
	h.rec.requireExactly(t, 1, 5)
	if s := h.c.Stats(); s.Reconnects != 1 || s.Connects != 2 {
		t.Fatalf("Reconnects = %d Connects = %d, want 1 and 2", s.Reconnects, s.Connects)
	}
}

func TestClient_ReconnectsAfterEveryRetryableCode(t *testing.T) {
	codes := []wire.Code{wire.CodeInternal, wire.CodeSlowConsumer, wire.CodeIdleTimeout}
	h := start(t, nil)
	for i, code := range codes {
		fc := h.push.next()
		fc.welcome(0, 0, 1000)
		fc.end(wire.TypeError, code)
		h.eventually(func() bool { return h.c.Stats().Connects == uint64(i+1) }, "connects")
	}
	fc := h.push.next() // it came back after each of them
	fc.welcome(0, 0, 1000)
}

func TestClient_ServerDownAtStartRetriedWithBackoff(t *testing.T) {
	h := start(t, nil)
	// The first two handshakes fail by the server hanging up.
	for i := 0; i < 2; i++ {
		fc := h.push.next()
		fc.nc.Close()
	}
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	if s := h.c.Stats(); s.DialFailures != 2 {
		t.Fatalf("DialFailures = %d, want 2", s.DialFailures)
	}
}

func TestClient_TokenExpiredRefreshesThenReconnects(t *testing.T) {
	h := start(t, nil)
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	h.api.revokeAccess()
	fc.end(wire.TypeError, wire.CodeTokenExpired)

	fc2 := h.push.next()
	if fc2.hello.Token == fc.hello.Token {
		t.Fatalf("reconnected with the expired token %q", fc.hello.Token)
	}
	fc2.welcome(0, 0, 1000)
	logins, refreshes, _ := h.api.counts()
	if logins != 1 || refreshes != 1 {
		t.Fatalf("logins=%d refreshes=%d, want 1 and 1", logins, refreshes)
	}
	h.api.mu.Lock()
	fresh := h.api.access[fc2.hello.Token]
	h.api.mu.Unlock()
	if !fresh {
		t.Fatalf("reconnect token %q is not the refreshed one", fc2.hello.Token)
	}
}

func TestClient_UnauthorizedRecoveredByRefresh(t *testing.T) {
	h := start(t, nil)
	fc := h.push.next()
	fc.end(wire.TypeError, wire.CodeUnauthorized)
	fc2 := h.push.next()
	fc2.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected after refresh")
	if _, refreshes, _ := h.api.counts(); refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", refreshes)
	}
}

func TestClient_UnauthorizedWithFreshTokenStopsRun(t *testing.T) {
	h := start(t, nil)
	h.push.next().end(wire.TypeError, wire.CodeUnauthorized)
	h.push.next().end(wire.TypeError, wire.CodeUnauthorized)
	if err := h.runErr(); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
}

func TestClient_WrongPasswordStopsRun(t *testing.T) {
	h := start(t, func(c *Config) { c.Password = "wrong password" })
	if err := h.runErr(); !errors.Is(err, ErrUnauthorized) || ErrorCode(err) != tether.EUNAUTHORIZED {
		t.Fatalf("Run = %v, want ErrUnauthorized wrapping the 401 problem", err)
	}
}

func TestClient_InvalidLoginRequestStopsRun(t *testing.T) {
	h := start(t, func(c *Config) { c.Username = "x" })
	if err := h.runErr(); ErrorCode(err) != tether.EINVALID {
		t.Fatalf("Run = %v, want the invalid problem", err)
	}
	if s := h.c.Stats(); s.DialFailures != 0 {
		t.Fatalf("dialed %d times without credentials", s.DialFailures)
	}
}

func TestClient_UnsupportedVersionStopsRun(t *testing.T) {
	h := start(t, nil)
	h.push.next().end(wire.TypeError, wire.CodeUnsupportedVersion)
	var ce *CloseError
	if err := h.runErr(); !errors.As(err, &ce) || ce.Code != wire.CodeUnsupportedVersion {
		t.Fatalf("Run = %v, want a CloseError with unsupported_version", err)
	}
}

func TestClient_RefreshesAccessTokenBeforeExpiry(t *testing.T) {
	// The short lifetime is set before Run logs in: a token issued first with
	// the default hour would not be due for refresh during the test.
	h := startWithAPI(t, func(f *fakeAPI) { f.ttl = 400 * time.Millisecond }, nil) // refreshed 100ms before expiry
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { _, r, _ := h.api.counts(); return r >= 2 }, "proactive refreshes")
	if s := h.c.Stats(); s.Connects != 1 {
		t.Fatalf("Connects = %d: refreshing must not cost the connection", s.Connects)
	}
}

func TestClient_AcksAreCumulativeAndFarFewerThanMessages(t *testing.T) {
	const n = 1000
	h := start(t, nil)
	h.api.grow(n)
	fc := h.push.next()
	fc.welcome(0, 0, 10000)
	for v := uint64(1); v <= n; v += 50 {
		var vs []uint64
		for u := v; u < v+50 && u <= n; u++ {
			vs = append(vs, u)
		}
		fc.push(vs...)
	}
	h.delivered(n)
	h.rec.requireExactly(t, 1, n)
	h.eventually(func() bool {
		acks := fc.framesOf(wire.TypeAck)
		return len(acks) > 0 && acks[len(acks)-1].Ack == n
	}, "final ack of %d", n)
	acks := fc.framesOf(wire.TypeAck)
	if len(acks) >= 100 {
		t.Fatalf("%d acks for %d messages, want well under 100", len(acks), n)
	}
	for i := 1; i < len(acks); i++ {
		if acks[i].Ack <= acks[i-1].Ack {
			t.Fatalf("acks not increasing: %d then %d", acks[i-1].Ack, acks[i].Ack)
		}
	}
	if s := h.c.Stats(); s.AcksSent != uint64(len(acks)) {
		t.Fatalf("Stats.AcksSent = %d, server saw %d", s.AcksSent, len(acks))
	}
}

func TestClient_AcksTrailingMessagesWithinInterval(t *testing.T) {
	h := start(t, func(c *Config) { c.AckInterval = 20 * time.Millisecond })
	h.api.grow(3)
	fc := h.push.next()
	fc.welcome(0, 0, 10000)
	fc.push(1, 2, 3) // far fewer than AckBatch: only the interval acks them
	h.eventually(func() bool {
		acks := fc.framesOf(wire.TypeAck)
		return len(acks) == 1 && acks[0].Ack == 3
	}, "one ack of 3, got %v", lazy(func() any { return fc.framesOf(wire.TypeAck) }))
}

func TestClient_SendsHeartbeatPings(t *testing.T) {
	h := start(t, nil)
	fc := h.push.next()
	fc.welcome(0, 0, 20)
	h.eventually(func() bool { return fc.count(wire.TypePing) >= 3 }, "3 pings")
	h.eventually(func() bool { return h.c.Stats().PongsRecv >= 3 }, "3 pongs")
	if s := h.c.Stats(); s.DeadConns != 0 || s.Connects != 1 {
		t.Fatalf("a connection answering pings was dropped: %+v", s)
	}
}

func TestClient_DeadServerDetectedAndReconnected(t *testing.T) {
	h := start(t, nil)
	h.api.grow(2)
	fc := h.push.next()
	fc.mute.Store(true) // the socket stays open but nothing comes back
	fc.welcome(0, 0, 20)
	fc.push(1)
	h.delivered(1)
	fc2 := h.push.next()
	if fc2.hello.LastVersion != 1 {
		t.Fatalf("reconnect hello.LastVersion = %d, want 1", fc2.hello.LastVersion)
	}
	fc2.welcome(2, 0, 1000)
	h.delivered(2)
	h.rec.requireExactly(t, 1, 2)
	if s := h.c.Stats(); s.DeadConns != 1 {
		t.Fatalf("DeadConns = %d, want 1", s.DeadConns)
	}
}

func TestClient_CancelStopsRunAndLeavesNoGoroutines(t *testing.T) {
	h := start(t, func(c *Config) { c.AckInterval = time.Hour })
	h.api.grow(2)
	fc := h.push.next()
	fc.welcome(0, 0, 20)
	fc.push(1, 2)
	h.delivered(2)
	h.cancel()
	if err := h.runErr(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	requireNoClientGoroutines(t)
	// The goodbye acks what was delivered and closes normally.
	<-fc.done
	acks := fc.framesOf(wire.TypeAck)
	if len(acks) != 1 || acks[0].Ack != 2 {
		t.Fatalf("acks %v, want one final ack of 2", acks)
	}
	closes := fc.framesOf(wire.TypeClose)
	if len(closes) != 1 || closes[0].Reason.Code != wire.CodeNormal {
		t.Fatalf("close frames %v, want one Close(normal)", closes)
	}
}

func TestClient_CloseStopsRunWhileReconnecting(t *testing.T) {
	h := start(t, func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour })
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	fc.end(wire.TypeClose, wire.CodeShuttingDown) // now waiting up to an hour
	h.c.Close()
	if err := h.runErr(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run = %v, want ErrClosed", err)
	}
	requireNoClientGoroutines(t)
	if err := h.c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestClient_RunRejectsIncompleteConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no api":         {PushAddr: "x", Username: "a", Password: "b"},
		"no push":        {APIBase: "x", Username: "a", Password: "b"},
		"no credentials": {APIBase: "x", PushAddr: "y"},
	} {
		if err := New(cfg).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted the config", name)
		}
	}
}

func TestClient_ConcurrentRunRejected(t *testing.T) {
	h := start(t, nil)
	h.push.next().welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	if err := h.c.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

func TestClientSend_RetryAfterUnavailableReusesClientMsgID(t *testing.T) {
	h := start(t, nil)
	h.api.mu.Lock()
	h.api.failSends = 2 // the first attempt is stored but its answer lost
	h.api.mu.Unlock()
	m, created, err := h.c.Send(context.Background(), 8, "", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("created = true, but the first attempt had stored it")
	}
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	if len(h.api.sendIDs) != 3 || h.api.sendIDs[0] == "" || h.api.sendIDs[0] != h.api.sendIDs[2] || h.api.sendIDs[1] != h.api.sendIDs[0] {
		t.Fatalf("attempts used client_msg_ids %v, want one id three times", h.api.sendIDs)
	}
	if len(h.api.messages) != 1 || m.ClientMsgID != h.api.sendIDs[0] {
		t.Fatalf("%d messages stored, want 1", len(h.api.messages))
	}
}

// An outage longer than the old four attempts (about 2 s of backoff from
// 250 ms): Send keeps retrying within its budget with the same client
// message id, and the message is stored once.
func TestClientSend_SucceedsAcrossAnOutageLongerThanFourAttempts(t *testing.T) {
	h := start(t, func(c *Config) { c.MinBackoff, c.MaxBackoff = DefaultMinBackoff, DefaultMaxBackoff })
	h.api.mu.Lock()
	h.api.outageUntil = time.Now().Add(3 * time.Second)
	h.api.mu.Unlock()
	m, created, err := h.c.Send(context.Background(), 8, "", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
	if err != nil || !created {
		t.Fatalf("Send across a 3 s outage = created %v, %v", created, err)
	}
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	if len(h.api.sendIDs) <= 4 {
		t.Fatalf("%d attempts; the outage should have outlasted 4", len(h.api.sendIDs))
	}
	for _, id := range h.api.sendIDs {
		if id != m.ClientMsgID {
			t.Fatalf("attempts used client_msg_ids %v, want %q every time", h.api.sendIDs, m.ClientMsgID)
		}
	}
	if len(h.api.messages) != 1 {
		t.Fatalf("%d messages stored, want 1", len(h.api.messages))
	}
}

// Retry-After is a floor on the wait: with 1 s, a 2.5 s outage takes at
// most 4 attempts (without it the jittered backoff would make more).
func TestClientSend_HonoursRetryAfter(t *testing.T) {
	h := start(t, nil)
	h.api.mu.Lock()
	h.api.outageUntil = time.Now().Add(2500 * time.Millisecond)
	h.api.retryAfter = "1"
	h.api.mu.Unlock()
	if _, _, err := h.c.Send(context.Background(), 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	if n := len(h.api.sendIDs); n < 2 || n > 4 {
		t.Fatalf("%d attempts in a 2.5 s outage with Retry-After: 1, want 2 to 4", n)
	}
}

// The budget ends the retries: an outage that outlasts it returns the 503.
func TestClientSend_GivesUpAfterItsRetryBudget(t *testing.T) {
	h := start(t, func(c *Config) { c.SendRetryBudget = 1500 * time.Millisecond })
	h.api.mu.Lock()
	h.api.outageUntil = time.Now().Add(time.Hour)
	h.api.mu.Unlock()
	began := time.Now()
	_, _, err := h.c.Send(context.Background(), 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
	var p *ProblemError
	if !errors.As(err, &p) || p.Status != 503 || p.Code != tether.EUNAVAILABLE {
		t.Fatalf("Send during an endless outage = %v, want the 503", err)
	}
	if took := time.Since(began); took < time.Second {
		t.Fatalf("gave up after %s, before its 1.5 s budget was nearly spent", took)
	}
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	if len(h.api.sendIDs) < 2 {
		t.Fatalf("%d attempts, want retries", len(h.api.sendIDs))
	}
}

// Failures a retry cannot fix return at once: a bad request, and a 500 (a
// fault that would repeat).
func TestClientSend_DoesNotRetryWhatARetryCannotFix(t *testing.T) {
	for _, status := range []int{400, 403, 500} {
		h := start(t, nil)
		h.api.mu.Lock()
		h.api.failSends, h.api.sendStatus = 1, status
		h.api.mu.Unlock()
		_, _, err := h.c.Send(context.Background(), 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
		var p *ProblemError
		if !errors.As(err, &p) || p.Status != status {
			t.Fatalf("status %d: Send = %v", status, err)
		}
		h.api.mu.Lock()
		if n := len(h.api.sendIDs); n != 1 {
			t.Fatalf("status %d: %d attempts, want 1", status, n)
		}
		h.api.mu.Unlock()
	}
}

func TestClientSend_RejectedTokenRenewedOnce(t *testing.T) {
	h := start(t, nil)
	h.push.next().welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.Stats().Connects == 1 }, "connected")
	h.api.revokeAccess()
	_, created, err := h.c.Send(context.Background(), 8, "m-1", tether.MessageText, json.RawMessage(`{"text":"hi"}`))
	if err != nil || !created {
		t.Fatalf("Send = created %v, %v", created, err)
	}
	if _, refreshes, _ := h.api.counts(); refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", refreshes)
	}
}

func TestClientSend_InvalidContentRejectedLocally(t *testing.T) {
	c := New(Config{APIBase: "http://127.0.0.1:1", PushAddr: "x", Username: "a", Password: "b"})
	if _, _, err := c.Send(context.Background(), 8, "m", tether.MessageText, json.RawMessage(`{nope`)); err == nil {
		t.Fatal("Send accepted invalid JSON content")
	}
}

// requireNoClientGoroutines fails if a goroutine is still running code of
// this package outside the tests, i.e. one the Client started.
func requireNoClientGoroutines(t *testing.T) {
	t.Helper()
	var leaked []string
	testenv.Eventually(t, waitFor, func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "/push/client/") && !strings.Contains(g, "_test.go") {
				leaked = append(leaked, g)
			}
		}
		return len(leaked) == 0
	}, "client goroutines still running: %v", lazy(func() any { return leaked }))
}

// lazy formats the value of f when printed, so a failure message shows the
// state at the time of failure, not at the time of the call.
type lazy func() any

func (l lazy) String() string { return fmt.Sprint(l()) }

func TestClient_ProvidedTokensWithoutPasswordStopWhenRefreshRejected(t *testing.T) {
	h := start(t, func(c *Config) {
		c.Password = ""
		c.Tokens = &tether.Tokens{AccessToken: "stale", RefreshToken: "revoked", UserID: testUserID, ExpiresAt: time.Now().Add(time.Hour)}
	})
	fc := h.push.next()
	if fc.hello.Token != "stale" {
		t.Fatalf("hello token %q, want the provided one", fc.hello.Token)
	}
	fc.end(wire.TypeError, wire.CodeUnauthorized)
	if err := h.runErr(); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run = %v, want ErrUnauthorized", err)
	}
	if logins, _, _ := h.api.counts(); logins != 0 {
		t.Fatalf("logged in %d times without a password", logins)
	}
}

// TestClient_ShuffledPushesAndDisconnectsDeliverEachVersionOnceInOrder
// pushes each round's new versions shuffled, with duplicates and losses,
// and drops the connection at random; the handler must still see 1..n once
// each, in order.
func TestClient_ShuffledPushesAndDisconnectsDeliverEachVersionOnceInOrder(t *testing.T) {
	const rounds, per = 20, 25
	h := start(t, nil)
	rng := rand.New(rand.NewPCG(7, 7))
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	for r := 0; r < rounds; r++ {
		lo := uint64(r*per) + 1
		h.api.grow(r*per + per)
		var vs []uint64
		for v := lo; v < lo+per; v++ {
			switch rng.IntN(6) {
			case 0: // lost
			case 1:
				vs = append(vs, v, v) // duplicated
			default:
				vs = append(vs, v)
			}
		}
		if lo > 5 {
			vs = append(vs, lo-1-uint64(rng.IntN(5))) // a stale redelivery
		}
		rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		fc.push(vs...)
		if rng.IntN(4) == 0 {
			fc.end(wire.TypeClose, wire.CodeShuttingDown)
			fc = h.push.next()
			if fc.hello.LastVersion > lo+per-1 {
				t.Fatalf("hello.LastVersion %d beyond the timeline", fc.hello.LastVersion)
			}
			fc.welcome(lo+per-1, 0, 1000)
		}
	}
	h.delivered(rounds * per)
	h.rec.requireExactly(t, 1, rounds*per)
}
