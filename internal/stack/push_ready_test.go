package stack

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

// ownRedis starts a redis-server of the test's own on a free port, so the
// test can kill it; it returns the address and a kill function.
func ownRedis(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed; this test kills a Redis of its own")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	kill := func() { _ = cmd.Process.Kill(); <-done }
	t.Cleanup(kill)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil }, "redis-server up")
	return addr, kill
}

func TestStartPush_ReadyThroughRedisOutageUnreadyWhileDraining(t *testing.T) {
	t.Parallel()
	addr, killRedis := ownRedis(t)
	pub, priv, _ := token.GenerateKey()
	pc := config.DefaultPush()
	pc.NodeID = testenv.Name("ready-")
	pc.TCPAddr, pc.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	pc.Redis.Addr, pc.Redis.Prefix = addr, testenv.Name("t")+":"
	pc.TokenPublicKey = token.EncodePublic(pub)
	pc.DrainWindow = 20 * time.Second
	p, err := StartPush(context.Background(), pc, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ready := func() int { code, _ := get(t, "http://"+p.AdminAddr+"/readyz"); return code }
	if c := ready(); c != http.StatusOK {
		t.Fatalf("readyz = %d at start", c)
	}

	// A session that ignores its Reconnect keeps the drain going.
	nc, err := net.Dial("tcp", p.PushAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tok, _, err := token.NewSigner(priv, time.Hour).Sign(token.Claims{UserID: 1, DeviceID: "d", Platform: "web", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, Platform: "web", DeviceID: "d"})); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return p.Sessions() == 1 }, "session open")

	// Redis is a weak dependency: the node keeps serving, and stays ready.
	killRedis()
	if c := ready(); c != http.StatusOK {
		t.Fatalf("readyz = %d with Redis down; want 200", c)
	}

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		stopped <- p.Stop(ctx)
	}()
	testenv.Eventually(t, 10*time.Second, func() bool { return ready() == http.StatusServiceUnavailable }, "readyz 503 while draining")
	nc.Close() // the client leaves; the drain ends
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("drain did not end after the last client left")
	}
}
