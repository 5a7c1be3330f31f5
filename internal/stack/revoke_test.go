package stack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
)

// handshake dials a push node over raw TCP, sends Hello with tok and returns
// the first frame the node answers with.
func handshake(t *testing.T, addr, tok string) wire.Frame {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, AppVersion: "t/1"})); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		f, _, err := wire.Decode(buf, 1<<20)
		if err == nil {
			return f
		}
		if !errors.Is(err, wire.ErrShort) {
			t.Fatalf("decode: %v", err)
		}
		n, err := nc.Read(chunk)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		buf = append(buf, chunk[:n]...)
	}
}

// startAPIAndPush starts an API and a push node on MariaDB and Redis.
func startAPIAndPush(t *testing.T) (*API, *Push) {
	t.Helper()
	a, p, _ := startAPIAndPushPrefixed(t)
	return a, p
}

// startAPIAndPushPrefixed is startAPIAndPush, also returning their Redis key prefix.
func startAPIAndPushPrefixed(t *testing.T) (*API, *Push, string) {
	t.Helper()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, pub := keyPair(t)
	a, err := StartAPI(ctx, apiConfig(t, dsn, prefix, priv), quiet())
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
	return a, p, prefix
}

func TestLogout_KicksTheLiveConnectionAndPushRefusesTheTokenAtHandshake(t *testing.T) {
	t.Parallel()
	a, p := startAPIAndPush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "bob", password); err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "bob", password, "bob-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	other, err := rest.Login(ctx, "bob", password, "bob-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	// Before logout the token is accepted.
	if f := handshake(t, p.PushAddr, tok.AccessToken); f.Type != wire.TypeWelcome {
		t.Fatalf("handshake before logout: %s %v, want welcome", f.Type, f.Reason)
	}
	start := func(deviceID string) chan error {
		c := client.New(client.Config{
			APIBase: base, PushAddr: p.PushAddr, DeviceID: deviceID,
			Tokens: tok, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return done
	}
	phone := start("bob-phone")
	lc := client.New(client.Config{
		APIBase: base, PushAddr: p.PushAddr, DeviceID: "bob-laptop", Tokens: other,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	laptopCtx, stopLaptop := context.WithCancel(ctx)
	laptop := make(chan error, 1)
	go func() { laptop <- lc.Run(laptopCtx) }()
	defer func() { stopLaptop(); <-laptop }()
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 2 }, "bob's two push sessions")

	rq, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/sessions/logout", nil)
	rq.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", res.StatusCode)
	}

	select {
	case err := <-phone:
		var k *client.KickedError
		if !errors.As(err, &k) || k.Code != wire.CodeRevoked {
			t.Fatalf("phone's Run ended with %v, want a kick with code revoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the logged-out session's live connection was not kicked")
	}
	f := handshake(t, p.PushAddr, tok.AccessToken)
	if f.Type != wire.TypeError || f.Reason.Code != wire.CodeRevoked {
		t.Fatalf("handshake after logout: %s %v, want error revoked", f.Type, f.Reason)
	}
	// The REST API refuses the logged-out access token too, before it expires.
	me, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/users/me", nil)
	me.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(me)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "revoked") {
		t.Fatalf("GET /v1/users/me with the logged-out token: %d %s, want 401 revoked", res.StatusCode, body)
	}
	// The other session of the same user is untouched.
	select {
	case err := <-laptop:
		t.Fatalf("the laptop session ended: %v", err)
	default:
	}
	if p.Sessions() != 1 {
		t.Fatalf("sessions on the node: %d, want the laptop's only", p.Sessions())
	}
	if f := handshake(t, p.PushAddr, other.AccessToken); f.Type != wire.TypeWelcome {
		t.Fatalf("handshake with the other session's token: %s %v, want welcome", f.Type, f.Reason)
	}
}

// call makes a REST request with a Bearer token and decodes a JSON answer into out (if not nil).
func call(t *testing.T, ctx context.Context, method, url, access string, out any) int {
	t.Helper()
	rq, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	rq.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}

func TestRevokeDevice_ShowsItOnlineThenKicksItsLiveConnection(t *testing.T) {
	t.Parallel()
	a, p := startAPIAndPush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "carol", password); err != nil {
		t.Fatal(err)
	}
	phoneTok, err := rest.Login(ctx, "carol", password, "carol-phone", "android")
	if err != nil {
		t.Fatal(err)
	}
	laptopTok, err := rest.Login(ctx, "carol", password, "carol-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	pc := client.New(client.Config{
		APIBase: base, PushAddr: p.PushAddr, DeviceID: "carol-phone", Tokens: phoneTok,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	phone := make(chan error, 1)
	go func() { phone <- pc.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 1 }, "carol's phone push session")

	var list struct{ Devices []tether.DeviceSession }
	if code := call(t, ctx, http.MethodGet, base+"/v1/devices", laptopTok.AccessToken, &list); code != http.StatusOK {
		t.Fatalf("list devices: %d", code)
	}
	seen := map[string]tether.DeviceSession{}
	for _, d := range list.Devices {
		seen[d.SessionID] = d
	}
	if d := seen[phoneTok.SessionID]; !d.Online || d.Current {
		t.Fatalf("phone in the list: %+v, want online and not current", d)
	}
	if d := seen[laptopTok.SessionID]; d.Online || !d.Current {
		t.Fatalf("laptop in the list: %+v, want offline and current", d)
	}

	if code := call(t, ctx, http.MethodDelete, base+"/v1/devices/"+phoneTok.SessionID, laptopTok.AccessToken, nil); code != http.StatusNoContent {
		t.Fatalf("revoke device: %d", code)
	}
	select {
	case err := <-phone:
		var k *client.KickedError
		if !errors.As(err, &k) || k.Code != wire.CodeRevoked {
			t.Fatalf("phone's Run ended with %v, want a kick with code revoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked device's live connection was not kicked")
	}
	if f := handshake(t, p.PushAddr, phoneTok.AccessToken); f.Type != wire.TypeError || f.Reason.Code != wire.CodeRevoked {
		t.Fatalf("handshake with the revoked device's token: %s %v, want error revoked", f.Type, f.Reason)
	}
}

func TestChangePassword_KicksTheOtherSessionsLiveConnection(t *testing.T) {
	t.Parallel()
	a, p := startAPIAndPush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "dave", password); err != nil {
		t.Fatal(err)
	}
	phoneTok, err := rest.Login(ctx, "dave", password, "dave-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	laptopTok, err := rest.Login(ctx, "dave", password, "dave-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	lc := client.New(client.Config{
		APIBase: base, PushAddr: p.PushAddr, DeviceID: "dave-laptop", Tokens: laptopTok,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	laptop := make(chan error, 1)
	go func() { laptop <- lc.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 1 }, "dave's laptop push session")

	body := strings.NewReader(`{"old_password":"` + password + `","new_password":"a brand new password"}`)
	rq, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/account/password", body)
	rq.Header.Set("Authorization", "Bearer "+phoneTok.AccessToken)
	rq.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("change password: %d", res.StatusCode)
	}
	select {
	case err := <-laptop:
		var k *client.KickedError
		if !errors.As(err, &k) || k.Code != wire.CodeRevoked {
			t.Fatalf("laptop's Run ended with %v, want a kick with code revoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other session's live connection was not kicked")
	}
	if f := handshake(t, p.PushAddr, phoneTok.AccessToken); f.Type != wire.TypeWelcome {
		t.Fatalf("handshake with the current session's token: %s %v, want welcome", f.Type, f.Reason)
	}
}

// A replayed refresh token means the session's tokens leaked: the session
// ends everywhere at once, exactly as a logout ends it.
func TestRefreshReplay_RevokesTheSessionEverywhereLikeLogout(t *testing.T) {
	t.Parallel()
	a, p := startAPIAndPush(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "erin", password); err != nil {
		t.Fatal(err)
	}
	stolen, err := rest.Login(ctx, "erin", password, "erin-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	other, err := rest.Login(ctx, "erin", password, "erin-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	// The owner rotates the refresh token; the thief keeps the old one.
	current, err := rest.Refresh(ctx, stolen.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	pc := client.New(client.Config{
		APIBase: base, PushAddr: p.PushAddr, DeviceID: "erin-phone", Tokens: current,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	phone := make(chan error, 1)
	go func() { phone <- pc.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 1 }, "erin's phone push session")
	if code := call(t, ctx, http.MethodGet, base+"/v1/users/me", current.AccessToken, nil); code != http.StatusOK {
		t.Fatalf("GET /v1/users/me before the replay: %d", code)
	}

	if _, err := rest.Refresh(ctx, stolen.RefreshToken); !isCode(err, tether.EUNAUTHORIZED) {
		t.Fatalf("replayed refresh: %v, want unauthorized", err)
	}

	select {
	case err := <-phone:
		var k *client.KickedError
		if !errors.As(err, &k) || k.Code != wire.CodeRevoked {
			t.Fatalf("phone's Run ended with %v, want a kick with code revoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replayed session's live connection was not kicked")
	}
	for name, tok := range map[string]string{"current": current.AccessToken, "stolen": stolen.AccessToken} {
		if f := handshake(t, p.PushAddr, tok); f.Type != wire.TypeError || f.Reason.Code != wire.CodeRevoked {
			t.Fatalf("handshake with the %s access token after the replay: %s %v, want error revoked", name, f.Type, f.Reason)
		}
		if code := call(t, ctx, http.MethodGet, base+"/v1/users/me", tok, nil); code != http.StatusUnauthorized {
			t.Fatalf("GET /v1/users/me with the %s access token after the replay: %d, want 401", name, code)
		}
	}
	if _, err := rest.Refresh(ctx, current.RefreshToken); !isCode(err, tether.EUNAUTHORIZED) {
		t.Fatalf("the current refresh token after the replay: %v, want unauthorized", err)
	}
	// The user's other session is untouched.
	if f := handshake(t, p.PushAddr, other.AccessToken); f.Type != wire.TypeWelcome {
		t.Fatalf("handshake with the other session's token: %s %v, want welcome", f.Type, f.Reason)
	}
	if code := call(t, ctx, http.MethodGet, base+"/v1/users/me", other.AccessToken, nil); code != http.StatusOK {
		t.Fatalf("GET /v1/users/me with the other session's token: %d", code)
	}
}

// isCode reports whether err is the API's problem document with code.
func isCode(err error, code string) bool {
	var e *client.ProblemError
	return errors.As(err, &e) && e.Code == code
}
