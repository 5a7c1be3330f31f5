package stack

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

func TestStartDev_PresenceSeesALivePushSession(t *testing.T) {
	t.Parallel()
	d, err := StartDev(context.Background(), devConfig(t, t.TempDir()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + d.HTTPAddr
	rest := client.NewAPI(base, nil)
	for _, u := range []string{"alice", "bob"} {
		if _, err := rest.Register(ctx, u, password); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := rest.Login(ctx, "alice", password, "alice-laptop", "desktop")
	if err != nil {
		t.Fatal(err)
	}
	bobUser, err := rest.UserByName(ctx, tok.AccessToken, "bob")
	if err != nil {
		t.Fatal(err)
	}
	presence := func() []tether.Presence {
		t.Helper()
		p, err := rest.Presence(ctx, tok.AccessToken, []int64{bobUser.ID, tok.UserID})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := presence(); p[0].Online || p[1].Online {
		t.Fatalf("before bob connects: %+v", p)
	}
	bob := client.New(client.Config{
		APIBase: base, PushAddr: d.PushAddr, Username: "bob", Password: password,
		DeviceID: "bob-phone", Platform: "ios", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	runCtx, stopBob := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bob.Run(runCtx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.Sessions() == 1 }, "bob's push session")
	p := presence()
	if !p[0].Online || !slices.Equal(p[0].Devices, []tether.Device{{ID: "bob-phone", Platform: "ios"}}) || p[1].Online {
		t.Fatalf("bob connected: %+v", p)
	}
	stopBob()
	<-done
	testenv.Eventually(t, 10*time.Second, func() bool { return !presence()[0].Online }, "bob still online after disconnecting")
}
