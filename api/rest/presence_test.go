package rest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/token"
)

type presenceList struct {
	Users []tether.Presence `json:"users"`
}

// online registers a live session of uid on node, as a push node would.
func (e *env) online(t *testing.T, uid int64, device, platform, node string) {
	t.Helper()
	if _, _, err := e.reg.AddSession(t.Context(), uid, route.Session{DeviceID: device, NodeID: node, Platform: platform, ConnID: device + "@" + node}); err != nil {
		t.Fatal(err)
	}
}

func TestPresence_OnlineDevicesOfAliveNodesInRequestOrderHidingBlockers(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		me, bob, carol, dave := e.signup("alice"), e.signup("bob"), e.signup("carol"), e.signup("dave")
		if err := e.reg.Heartbeat(t.Context(), route.Info{ID: "alive"}); err != nil {
			t.Fatal(err)
		}
		e.online(t, bob.ID, "bob-phone", "ios", "alive")
		e.online(t, bob.ID, "bob-web", "web", "alive")
		e.online(t, bob.ID, "bob-tablet", "android", "dead") // its node never heartbeated
		e.online(t, carol.ID, "carol-laptop", "desktop", "dead")
		e.online(t, dave.ID, "dave-phone", "android", "alive")
		// dave blocked me: I must not learn he is online.
		e.do(req{Method: "PUT", Path: fmt.Sprintf("/v1/blocks/%d", me.ID), Token: dave.Tokens.AccessToken})

		var got presenceList
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/presence?user_ids=%d,%d,%d,%d,%d", dave.ID, carol.ID, bob.ID, 424242, me.ID), Token: me.Tokens.AccessToken}).
			decode(t, 200, &got)
		want := []tether.Presence{
			{UserID: dave.ID, Devices: []tether.Device{}},
			{UserID: carol.ID, Devices: []tether.Device{}},
			{UserID: bob.ID, Online: true, Devices: []tether.Device{{ID: "bob-phone", Platform: "ios"}, {ID: "bob-web", Platform: "web"}}},
			{UserID: 424242, Devices: []tether.Device{}},
			{UserID: me.ID, Devices: []tether.Device{}},
		}
		if len(got.Users) != len(want) {
			t.Fatalf("users: %+v", got.Users)
		}
		for i, w := range want {
			g := got.Users[i]
			if g.UserID != w.UserID || g.Online != w.Online || !slices.Equal(g.Devices, w.Devices) {
				t.Fatalf("users[%d] = %+v, want %+v", i, g, w)
			}
		}
		// Bob sees dave, who did not block him.
		e.do(req{Method: "GET", Path: fmt.Sprintf("/v1/presence?user_ids=%d", dave.ID), Token: bob.Tokens.AccessToken}).decode(t, 200, &got)
		if len(got.Users) != 1 || !got.Users[0].Online || !slices.Equal(got.Users[0].Devices, []tether.Device{{ID: "dave-phone", Platform: "android"}}) {
			t.Fatalf("dave as bob sees him: %+v", got.Users)
		}
	})
}

func TestPresence_RefusesBadListsAndAnonymousCallers(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		me := e.signup("alice")
		ids := make([]string, tether.MaxPresenceUsers+1)
		for i := range ids {
			ids[i] = fmt.Sprint(i + 1)
		}
		for _, q := range []string{
			"", "?user_ids=", "?user_ids=" + strings.Join(ids, ","), "?user_ids=1,x", "?user_ids=0", "?user_ids=-3", "?user_ids=1,,2",
		} {
			e.do(req{Method: "GET", Path: "/v1/presence" + q, Token: me.Tokens.AccessToken}).wantProblem(t, 400, tether.EINVALID)
		}
		// Exactly 200 is fine.
		var got presenceList
		e.do(req{Method: "GET", Path: "/v1/presence?user_ids=" + strings.Join(ids[:tether.MaxPresenceUsers], ","), Token: me.Tokens.AccessToken}).decode(t, 200, &got)
		if len(got.Users) != tether.MaxPresenceUsers {
			t.Fatalf("%d users, want %d", len(got.Users), tether.MaxPresenceUsers)
		}
		e.do(req{Method: "GET", Path: "/v1/presence?user_ids=1"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
		e.do(req{Method: "GET", Path: "/v1/presence?user_ids=1", Token: "garbage"}).wantProblem(t, 401, tether.EUNAUTHORIZED)
	})
}

func TestPresence_WithoutAServiceAnswers503(t *testing.T) {
	pub, priv, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	d := routingDeps(t)
	d.Verifier = token.NewVerifier(pub)
	s, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := token.NewSigner(priv, time.Minute).Sign(token.Claims{UserID: 1, DeviceID: "d", Platform: "web", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/presence?user_ids=1", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), tether.EUNAVAILABLE) {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}
