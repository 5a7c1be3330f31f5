package stack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

// rawSession is a push connection that has had its Welcome.
type rawSession struct {
	nc  net.Conn
	buf []byte
}

func openRaw(t *testing.T, addr, tok string) (*rawSession, wire.Welcome) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok})); err != nil {
		t.Fatal(err)
	}
	s := &rawSession{nc: nc}
	f := s.next(t)
	if f.Type != wire.TypeWelcome {
		t.Fatalf("handshake answered %s %+v", f.Type, f.Reason)
	}
	return s, f.Welcome
}

// next returns the next frame, within 10 seconds.
func (s *rawSession) next(t *testing.T) wire.Frame {
	t.Helper()
	_ = s.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	chunk := make([]byte, 4096)
	for {
		f, n, err := wire.Decode(s.buf, 1<<20)
		if err == nil {
			s.buf = s.buf[n:]
			return f
		}
		if !errors.Is(err, wire.ErrShort) {
			t.Fatalf("decode: %v", err)
		}
		m, err := s.nc.Read(chunk)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		s.buf = append(s.buf, chunk[:m]...)
	}
}

// An access token is a contract (shared/token): a deployment may mint them
// in its own auth service for users Tether has no account for. Push nodes
// and transient pushes of the push API need no account; everything stored
// does, and without one the REST API answers 403 or 404, never 500.
func TestExternalToken_PushWorksWithoutAnAccountAndRESTRefusesCleanly(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + c.api.HTTPAddr
	real, err := client.NewAPI(base, nil).Register(ctx, "registered", password)
	if err != nil {
		t.Fatal(err)
	}
	const ghost = 987654321 // no row in the database
	tok, _, err := c.signer.Sign(token.Claims{UserID: ghost, DeviceID: "ext-1", Platform: "web", SessionID: "outside-1"})
	if err != nil {
		t.Fatal(err)
	}

	// The push node verifies the token alone; Redis has no version for the
	// user, so the Welcome says version_unknown.
	sess, w := openRaw(t, c.push.PushAddr, tok)
	if w.Flags&wire.FlagVersionUnknown == 0 {
		t.Fatalf("welcome %+v: want version_unknown for a user Tether never registered", w)
	}
	// A transient push reaches the live session; a persisted one skips the
	// user (targeted 0), as any unknown id.
	var key tether.CreatedAPIKey
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "crm", "scopes": []string{"push"}}, &key); st != 201 {
		t.Fatalf("create key: %d", st)
	}
	var res tether.PushResult
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{ghost}, "payload": map[string]any{"n": 1}}, &res); st != 202 || res.Targeted != 1 {
		t.Fatalf("transient push to a user without an account: %d %+v", st, res)
	}
	for {
		f := sess.next(t)
		if f.Type == wire.TypePush {
			if !bytes.Contains(f.Push.Body, []byte(`"n":1`)) {
				t.Fatalf("push body %s", f.Push.Body)
			}
			break
		}
	}
	var persisted tether.PushResult
	if st := keyCall(t, base, key.Secret, "POST", "/v1/push", map[string]any{"user_ids": []int64{ghost}, "payload": map[string]any{"n": 2}, "persist": true}, &persisted); st != 202 || persisted.Targeted != 0 {
		t.Fatalf("persisted push to a user without an account: %d %+v", st, persisted)
	}

	// REST: reads answer for an empty account; what would be stored is refused.
	for _, r := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/users/me", "", 404},
		{"GET", "/v1/sync?since=0", "", 200},
		{"GET", "/v1/conversations", "", 200},
		{"POST", "/v1/messages", `{"recipient_id":` + strconv.FormatInt(real.ID, 10) + `,"client_msg_id":"x","type":"text","content":{"text":"hi"}}`, 403},
		{"POST", "/v1/groups", `{"name":"g"}`, 403},
		{"PUT", "/v1/contacts/" + strconv.FormatInt(real.ID, 10), "", 403},
		{"PUT", "/v1/blocks/" + strconv.FormatInt(real.ID, 10), "", 403},
		{"POST", "/v1/conversations/d:" + strconv.FormatInt(real.ID, 10) + ":987654321/read", `{"version":1}`, 403},
		{"PATCH", "/v1/users/me/profile", `{"display_name":"x"}`, 404},
	} {
		rq, _ := http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.body))
		rq.Header.Set("Authorization", "Bearer "+tok)
		if r.body != "" {
			rq.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != r.want {
			t.Errorf("%s %s: %d %s, want %d", r.method, r.path, res.StatusCode, b, r.want)
		}
	}
}
