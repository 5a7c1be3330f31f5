package push

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

// startPeer starts another node on the env's Redis prefix (a second node of
// the same cluster), with its own metrics. It uses the healthy Redis client.
func (e *env) startPeer(id string, mod func(*Config)) (*Node, *metrics.Metrics) {
	e.t.Helper()
	cfg := e.cfg
	cfg.NodeID = id
	if mod != nil {
		mod(&cfg)
	}
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PUSH_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := New(cfg, Deps{
		Redis:    e.rdb,
		Registry: route.NewRegistry(e.rdb, e.prefix, cfg.NodeTTL),
		Verifier: e.verify,
		Metrics:  m,
		Log:      log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if !n.stopping.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.Stop(ctx)
		}
	})
	return n, m
}

// connectTo handshakes with node n as uid on device and platform.
func (e *env) connectTo(n *Node, uid int64, device, platform string) *tclient {
	e.t.Helper()
	nc, err := net.DialTimeout("tcp", n.TCPAddr().String(), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = nc.Close() })
	c := &tclient{t: e.t, nc: nc, r: bufio.NewReader(nc)}
	tok, _, err := e.signer.Sign(token.Claims{UserID: uid, DeviceID: device, Platform: platform, SessionID: "s1"})
	if err != nil {
		e.t.Fatal(err)
	}
	c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, Platform: platform, DeviceID: device, AppVersion: "t/1"}))
	if f := c.read(); f.Type != wire.TypeWelcome {
		e.t.Fatalf("handshake: got %s %v, want welcome", f.Type, f.Reason)
	}
	return c
}

// waitJoined waits until node id has its group on the broadcast stream.
func (e *env) waitJoined(id string) {
	e.t.Helper()
	testenv.Eventually(e.t, 5*time.Second, func() bool {
		groups, _ := e.rdb.XInfoGroups(context.Background(), e.streams.Keys().Broadcast()).Result()
		return slices.ContainsFunc(groups, func(g redis.XInfoGroup) bool { return g.Name == id })
	}, "node %s joins the broadcast stream", id)
}

// broadcast publishes a broadcast job and returns it.
func (e *env) broadcast(pushID, body string, platforms ...string) job.Job {
	e.t.Helper()
	j := job.Job{ID: pushID, Kind: job.KindBroadcast, PushID: pushID, Body: []byte(body), Platforms: platforms}
	if _, err := e.streams.Broadcast(context.Background(), j); err != nil {
		e.t.Fatal(err)
	}
	return j
}

// nextFrame reads the next frame that is not a Pong.
func (c *tclient) nextFrame() wire.Frame {
	c.t.Helper()
	for {
		if f := c.read(); f.Type != wire.TypePong {
			return f
		}
	}
}

// expectPush reads the next frame and checks it is the Push id with body.
func (c *tclient) expectPush(id, body string) {
	c.t.Helper()
	f := c.nextFrame()
	if f.Type != wire.TypePush || f.Push.ID != id || string(f.Push.Body) != body {
		c.t.Fatalf("got %s %q %s %v, want push %q %s", f.Type, f.Push.ID, f.Push.Body, f.Reason, id, body)
	}
}

// expectSignal reads the next frame and checks it is a Signal from peer.
func (c *tclient) expectSignal(from int64, kind, data string) {
	c.t.Helper()
	f := c.nextFrame()
	if f.Type != wire.TypeSignal || f.Signal.Peer != from || f.Signal.Kind != kind || string(f.Signal.Data) != data {
		c.t.Fatalf("got %s %+v %v, want signal %s %q from %d", f.Type, f.Signal, f.Reason, kind, data, from)
	}
}

// roundTrip sends a Ping and waits for its Pong, so every frame the client
// sent before has been handled and everything queued for it before has been
// read. It fails on any other frame.
func (c *tclient) roundTrip() {
	c.t.Helper()
	c.send(wire.AppendPing(nil, []byte("rt")))
	if f := c.read(); f.Type != wire.TypePong {
		c.t.Fatalf("got %s %+v %+v %v, want only the pong", f.Type, f.Push, f.Signal, f.Reason)
	}
}

func signalFrame(peer int64, kind, data string) []byte {
	return wire.AppendSignal(nil, wire.Signal{Peer: peer, Kind: kind, Data: []byte(data)})
}
