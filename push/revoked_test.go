package push

import (
	"context"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

func TestHandshake_RefusesATokenOfARevokedLoginSession(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		// e.token signs session "s1"; the API marks it revoked on logout.
		if err := e.rdb.Set(context.Background(), e.reg.Keys().Revoked("s1"), "1", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		c := e.dial()
		c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(9, "d"), AppVersion: "t/1"}))
		c.expectReason(wire.TypeError, wire.CodeRevoked)
		if n.Sessions() != 0 {
			t.Fatalf("sessions = %d, want 0", n.Sessions())
		}
		// Once the mark is gone (it expires with the access-token lifetime) the token is accepted.
		if err := e.rdb.Del(context.Background(), e.reg.Keys().Revoked("s1")).Err(); err != nil {
			t.Fatal(err)
		}
		e.connect(9, "d")
	})
}
