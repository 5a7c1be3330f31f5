package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

func TestHandshake_WelcomeCarriesCurrentVersionAndRegistersRoute(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.HeartbeatInterval = 20 * time.Second }).on(tr)
		n := e.start()
		if _, err := e.reg.Announce(context.Background(), map[int64]uint64{42: 7}); err != nil {
			t.Fatal(err)
		}
		_, w := e.connect(42, "phone")
		if w.CurrentVersion != 7 || w.Flags != 0 || w.Version != 1 || w.HeartbeatMS != 20000 ||
			w.MaxPayload != wire.DefaultMaxPayload || w.SessionID == "" {
			t.Fatalf("welcome = %+v", w)
		}
		routes, err := e.reg.Lookup(context.Background(), []int64{42})
		if err != nil {
			t.Fatal(err)
		}
		if s := routes[42]; len(s) != 1 || s[0].DeviceID != "phone" || s[0].NodeID != e.cfg.NodeID || s[0].ConnID != w.SessionID {
			t.Fatalf("routes = %+v", routes)
		}
		if n.Sessions() != 1 {
			t.Fatalf("sessions = %d", n.Sessions())
		}
	})
}

func TestHandshake_NegotiatesDownToServerVersion(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		heartbeatAcks(n, 1, "on", nil) // version 2 is released to everyone (heartbeat_test.go)
		c := e.dial()
		c.send(wire.AppendHello(nil, wire.Hello{Version: 9, Token: e.token(1, "d"), DeviceID: "d"}))
		if f := c.read(); f.Type != wire.TypeWelcome || f.Welcome.Version != wire.ProtocolVersion {
			t.Fatalf("got %+v", f)
		}
	})
}

func TestHandshake_NoVersionInRedisTellsClientToSync(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		e.start()
		_, w := e.connect(5, "d")
		if w.Flags&wire.FlagVersionUnknown == 0 || w.CurrentVersion != 0 {
			t.Fatalf("welcome = %+v, want FlagVersionUnknown", w)
		}
	})
}

func TestHandshake_RejectionsCloseTheConnectionAndNodeKeepsServing(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond; c.MaxPayload = 4096 }).on(tr)
		n := e.start()
		_, foreign, _ := token.GenerateKey()
		foreignTok, _, err := token.NewSigner(foreign, time.Hour).Sign(token.Claims{UserID: 1, DeviceID: "d"})
		if err != nil {
			t.Fatal(err)
		}
		expired, _, err := token.NewSigner(e.priv, -time.Minute).Sign(token.Claims{UserID: 1, DeviceID: "d"})
		if err != nil {
			t.Fatal(err)
		}
		hello := func(v uint8, tok string) []byte {
			return wire.AppendHello(nil, wire.Hello{Version: v, Token: tok, DeviceID: "d"})
		}
		cases := []struct {
			name    string
			send    []byte
			code    wire.Code
			partial bool // send is the start of something longer
		}{
			{"bad token", hello(1, "not-a-token"), wire.CodeUnauthorized, false},
			{"foreign key", hello(1, foreignTok), wire.CodeUnauthorized, false},
			{"expired token", hello(1, expired), wire.CodeTokenExpired, false},
			{"version zero", hello(0, e.token(1, "d")), wire.CodeUnsupportedVersion, false},
			{"ping first", wire.AppendPing(nil, []byte{1}), wire.CodeUnexpectedFrame, false},
			{"ack first", wire.AppendAck(nil, 3), wire.CodeUnexpectedFrame, false},
			{"server frame", wire.AppendWelcome(nil, wire.Welcome{}), wire.CodeUnexpectedFrame, false},
			{"oversized header only", []byte{byte(wire.TypeHello), 0, 0, 0x10, 0x01}, wire.CodeFrameTooLarge, false},
			{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeBadFrame, false},
			{"malformed hello", []byte{byte(wire.TypeHello), 0, 0, 0, 2, 1, 0}, wire.CodeBadFrame, false},
			{"no hello in time", nil, wire.CodeHandshakeTimeout, false},
			{"partial hello in time", []byte{byte(wire.TypeHello), 0, 0}, wire.CodeHandshakeTimeout, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := e.dial()
				c.t = t
				switch {
				case tc.partial:
					c.sendPartial(tc.send)
				case tc.send != nil:
					c.send(tc.send)
				}
				c.expectReason(wire.TypeError, tc.code)
				c.expectClosed()
			})
		}
		if n.Sessions() != 0 {
			t.Fatalf("sessions = %d after rejections", n.Sessions())
		}
		e.connect(2, "ok") // the node still serves
	})
}

func TestHandshake_RedisDownStillAcceptsAndRegistersRouteLater(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		e.down.Store(true)
		n := e.start() // the first heartbeat fails; Start must not
		c, w := e.connect(8, "d")
		if w.Flags&wire.FlagVersionUnknown == 0 {
			t.Fatalf("welcome = %+v, want FlagVersionUnknown", w)
		}
		e.down.Store(false)
		testenv.Eventually(t, 10*time.Second, func() bool {
			r, err := e.reg.Lookup(context.Background(), []int64{8})
			return err == nil && len(r[8]) == 1 && r[8][0].ConnID == w.SessionID
		}, "route registered after Redis came back")
		// The consumer recovered too: a job reaches the session.
		e.push(msgJob("hi", jobTarget(8, 1)))
		if ms := c.messages(1); ms[0].Version != 1 {
			t.Fatalf("got %s", versions(ms))
		}
		if n.Sessions() != 1 {
			t.Fatalf("sessions = %d", n.Sessions())
		}
	})
}
