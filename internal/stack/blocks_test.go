package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/blockmirror"
)

// signaller is a user online on push/client whose received signals are
// collected.
type signaller struct {
	id     int64
	access string
	c      *client.Client
	got    chan client.Signal
}

func startSignaller(t *testing.T, ctx context.Context, base, pushAddr, name string) *signaller {
	t.Helper()
	rest := client.NewAPI(base, nil)
	u, err := rest.Register(ctx, name, password)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, name, password, name+"-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	s := &signaller{id: u.ID, access: tok.AccessToken, got: make(chan client.Signal, 64)}
	s.c = client.New(client.Config{
		APIBase: base, PushAddr: pushAddr, DeviceID: name + "-phone", Tokens: tok,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnSignal: func(sg client.Signal) { s.got <- sg },
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.c.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return s
}

// send sends a signal, retrying while the client is not connected yet.
func (s *signaller) send(t *testing.T, ctx context.Context, to int64, data string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool {
		return s.c.SendSignal(ctx, to, "typing", []byte(data)) == nil
	}, "signal sent")
}

// expect waits for the next signal and checks its sender and data.
func (s *signaller) expect(t *testing.T, from int64, data string) {
	t.Helper()
	select {
	case sg := <-s.got:
		if sg.From != from || string(sg.Data) != data {
			t.Fatalf("user %d got signal %q from %d, want %q from %d", s.id, sg.Data, sg.From, data, from)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("user %d: no signal %q from %d", s.id, data, from)
	}
}

// ping has from signal to s until s gets one: both are online and signals flow.
func (s *signaller) ping(t *testing.T, ctx context.Context, from *signaller) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() bool {
		from.send(t, ctx, s.id, "ping")
		select {
		case sg := <-s.got:
			return sg.From == from.id
		case <-time.After(300 * time.Millisecond):
			return false
		}
	}, "signals flowing")
	for len(s.got) > 0 {
		<-s.got
	}
}

// A block through the REST API stops the blocked user's signals on the push
// side, also after Redis lost the mirror (the API rebuilds it from the
// database), until the block is removed.
func TestBlock_StopsTheBlockedUsersSignalsEndToEnd(t *testing.T) {
	t.Parallel()
	a, p, prefix := startAPIAndPushPrefixed(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := "http://" + a.HTTPAddr
	bob := startSignaller(t, ctx, base, p.PushAddr, "bob")
	mallory := startSignaller(t, ctx, base, p.PushAddr, "mallory")
	carol := startSignaller(t, ctx, base, p.PushAddr, "carol")
	bob.ping(t, ctx, mallory)
	bob.ping(t, ctx, carol)
	mallory.ping(t, ctx, carol)

	// blocked checks that mallory's signal to bob does not arrive: mallory's
	// signals are relayed in order, so once carol has mallory's next one
	// and bob carol's marker, the first was handled.
	blocked := func(step string) {
		t.Helper()
		mallory.send(t, ctx, bob.id, "blocked "+step)
		mallory.send(t, ctx, carol.id, "after "+step)
		carol.expect(t, mallory.id, "after "+step)
		carol.send(t, ctx, bob.id, "marker "+step)
		bob.expect(t, carol.id, "marker "+step)
	}

	if code := call(t, ctx, http.MethodPut, fmt.Sprintf("%s/v1/blocks/%d", base, mallory.id), bob.access, nil); code != http.StatusNoContent {
		t.Fatalf("block: %d", code)
	}
	blocked("after the block")
	// Bob may still signal mallory: a block is one-directional.
	bob.send(t, ctx, mallory.id, "to mallory")
	mallory.expect(t, bob.id, "to mallory")

	// Redis loses the mirror (as in a restart without persistence): nodes
	// drop signals between users until the API has rebuilt it from the
	// database, and the block holds after.
	mirror := blockmirror.New(rdb, prefix)
	keys, err := rdb.Keys(ctx, prefix+"blocks:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("mirror keys: %v %v", keys, err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*blockmirror.KeepInterval, func() bool {
		ok, err := mirror.Complete(ctx)
		return err == nil && ok
	}, "the API rebuilt the mirror")
	blocked("after the rebuild")

	if code := call(t, ctx, http.MethodDelete, fmt.Sprintf("%s/v1/blocks/%d", base, mallory.id), bob.access, nil); code != http.StatusNoContent {
		t.Fatalf("unblock: %d", code)
	}
	mallory.send(t, ctx, bob.id, "unblocked")
	bob.expect(t, mallory.id, "unblocked")
}
