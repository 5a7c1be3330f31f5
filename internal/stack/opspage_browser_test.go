package stack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherim/tether/internal/browser"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/switches"
)

// opsCluster is an API process and two push nodes, each its own stack
// talking to the others only through MariaDB and Redis, as separate
// processes on separate hosts would.
type opsCluster struct {
	api         *API
	keep, drain *Push
	prefix      string
}

func startOpsCluster(t *testing.T) opsCluster {
	t.Helper()
	ctx := context.Background()
	dsn, prefix := migratedMySQL(t)
	priv, pub := keyPair(t)
	ac := apiConfig(t, dsn, prefix, priv)
	ac.PushAPI.AdminKey = stackAdminKey
	a, err := StartAPI(ctx, ac, quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, a)
	node := func(name string) *Push {
		pc := config.DefaultPush()
		pc.NodeID = testenv.Name(name)
		pc.TCPAddr, pc.AdminAddr, pc.TokenPublicKey = "127.0.0.1:0", "127.0.0.1:0", pub
		pc.Redis.Addr, pc.Redis.Prefix = testenv.RedisAddr(), prefix
		pc.SwitchesFile = t.TempDir() + "/switches.json"
		pc.UpgradeSocket = t.TempDir() + "/upgrade.sock"
		pc.DrainWindow = 2 * time.Second
		p, err := StartPush(ctx, pc, quiet())
		if err != nil {
			t.Fatal(err)
		}
		stopOnCleanup(t, p)
		return p
	}
	return opsCluster{api: a, keep: node("keep-"), drain: node("drain-"), prefix: prefix}
}

// confirmWith answers the page's confirmation dialog with a reason.
func confirmWith(reason string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#confirm-reason")),
		chromedp.SendKeys(chromedp.CSS("#confirm-reason"), reason),
		chromedp.Click(chromedp.CSS("#confirm-go")),
		chromedp.WaitNotVisible(chromedp.CSS("#confirm")),
	)
}

// flashSays waits until the page's status line contains text.
func flashSays(t *testing.T, tab context.Context, text string) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() bool {
		got, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('flash').textContent`))
		return strings.Contains(got, text)
	}, "the page never said %q", text)
}

// fetchStatus is the HTTP status the page's own origin gets for a request.
func fetchStatus(t *testing.T, tab context.Context, method, path string) int {
	t.Helper()
	st, err := chromedp.Run(tab, chromedp.Evaluate[int](
		`fetch('`+path+`', {method: '`+method+`', headers: {'Content-Type': 'application/json'}, body: `+
			map[bool]string{true: `'{"reason":"x","value":"off"}'`, false: `undefined`}[method == "POST"]+`}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOpsPage_InAPhoneBrowser drives the ops page in headless Chromium at
// 390x844: it is refused without a login, logs in with an admin API key,
// flips switches with a reason and a confirmation, kicks a user (whose push
// connection on another node gets Kick(kicked)), drains a remote push node
// and asks another to hot-restart, and logs out. With
// TETHER_UPDATE_SCREENSHOTS=1 it saves docs/ops-page.png.
func TestOpsPage_InAPhoneBrowser(t *testing.T) {
	t.Parallel()
	c := startOpsCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// alice is connected to the node that stays.
	base := "http://" + c.api.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	tok, err := rest.Login(ctx, "alice", password, "alice-phone", "ios")
	if err != nil {
		t.Fatal(err)
	}
	alice := client.New(client.Config{APIBase: base, PushAddr: c.keep.PushAddr, DeviceID: "alice-phone", Tokens: tok,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	aliceDone := make(chan error, 1)
	go func() { aliceDone <- alice.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return c.keep.Sessions() == 1 }, "alice's push session")

	tab := browser.Tab(t, browser.Options{})
	page := "http://" + c.api.AdminAddr + "/ops/"
	browser.Do(t, tab, "open the page", 20*time.Second,
		chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#key")))

	// Never open: without a login every endpoint refuses.
	if st := fetchStatus(t, tab, "GET", "/ops/api/state"); st != 401 {
		t.Fatalf("GET api/state without a login: %d, want 401", st)
	}
	if st := fetchStatus(t, tab, "POST", "/ops/api/switches/presence"); st != 401 {
		t.Fatalf("POST api/switches without a login: %d, want 401", st)
	}
	browser.Do(t, tab, "log in with a wrong key", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#key"), "not-an-admin-key"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))

	browser.Do(t, tab, "log in", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#key"), stackAdminKey),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`#node-list li[data-node="`+c.drain.NodeID+`"] .badge.ready`)),
		chromedp.WaitVisible(chromedp.CSS(`#node-list li[data-node="`+c.keep.NodeID+`"] .badge.ready`)))

	// The live table: every process of the cluster (the API and both
	// nodes) is listed, a new second comes in every second, and alice's
	// session shows under its platform.
	liveTop := func() string {
		s, _ := chromedp.Run(tab, chromedp.Evaluate[string](
			`(document.querySelector('#live-table tbody tr td') || {}).textContent || ''`))
		return s
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return liveTop() != "" }, "the live table stays empty")
	first := liveTop()
	testenv.Eventually(t, 20*time.Second, func() bool { return liveTop() != first }, "the live table does not move past %s", first)
	testenv.Eventually(t, 20*time.Second, func() bool {
		n, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.getElementById('live-process').options.length`))
		return n == 4 // the cluster's sum, and three processes
	}, "the live table does not list the API and both nodes")
	testenv.Eventually(t, 20*time.Second, func() bool {
		s, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('platforms').textContent`))
		return strings.Contains(s, "ios: 1")
	}, "sessions by platform do not show alice's ios session")
	// One node's own table.
	pickProcess := func(p string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('live-process');
			s.value = '`+p+`'; return s.dispatchEvent(new Event('change')); })()`)); err != nil {
			t.Fatal(err)
		}
	}
	pickProcess(c.keep.NodeID)
	testenv.Eventually(t, 20*time.Second, func() bool {
		s, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('.spark[data-col="in"] .v').textContent`))
		return s == "1"
	}, "the kept node's table does not show alice logged in")
	pickProcess("")

	// Degrade a business: presence off, with a reason, after a confirmation.
	// Confirming without a reason sends nothing.
	browser.Do(t, tab, "turn presence off", 20*time.Second,
		chromedp.Click(chromedp.CSS(`li[data-degrade="presence"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-reason")),
		chromedp.Click(chromedp.CSS("#confirm-go")))
	if v, _ := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById('confirm').open`)); !v {
		t.Fatal("the confirmation closed without a reason")
	}
	if !c.api.core.switches.svc.Registry.Enabled(switches.Presence, switches.Subject{}) {
		t.Fatal("presence went off before a reason was given")
	}
	browser.Do(t, tab, "confirm presence off", 20*time.Second, confirmWith("presence storm on the cache"))
	flashSays(t, tab, "presence is off")
	if c.api.core.switches.svc.Registry.Enabled(switches.Presence, switches.Subject{}) {
		t.Fatal("presence is still on after the page turned it off")
	}
	hist, err := c.api.core.switches.svc.Store.History(ctx, switches.Presence, 1)
	if err != nil || len(hist) != 1 || hist[0].Reason != "presence storm on the cache" || hist[0].Actor != "ops:key:admin" {
		t.Fatalf("presence history %+v %v, want the page's reason and actor", hist, err)
	}

	// Change a switch's value through its editor.
	browser.Do(t, tab, "set group_fanout_max_members", 20*time.Second,
		chromedp.Click(chromedp.CSS(`li[data-switch="group_fanout_max_members"] button.change`)),
		chromedp.WaitVisible(chromedp.CSS("#edit-value")),
		chromedp.SetValue(chromedp.CSS("#edit-value"), "500"),
		chromedp.SetValue(chromedp.CSS("#edit-rules"), `{"percent": 10}`),
		chromedp.Click(chromedp.CSS("#edit-next")),
		confirmWith("big groups overload the relay"))
	flashSays(t, tab, "group_fanout_max_members is 500")
	cur, _ := c.api.core.switches.svc.Registry.Get(switches.GroupFanoutLimit)
	if cur.Value != "500" || cur.Rules == nil || cur.Rules.Percent == nil || *cur.Rules.Percent != 10 {
		t.Fatalf("group_fanout_max_members %+v, want 500 for 10%%", cur)
	}

	// Kick a user: alice's connection on the other node gets Kick(kicked).
	browser.Do(t, tab, "kick alice", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#kick-user"), "alice"),
		chromedp.Click(chromedp.CSS("#kick-go")),
		confirmWith("abusive client"))
	select {
	case err := <-aliceDone:
		var k *client.KickedError
		if !errors.As(err, &k) || k.Code != wire.CodeKicked {
			t.Fatalf("alice's client ended with %v, want Kick(kicked)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alice's push connection was not kicked")
	}
	flashSays(t, tab, "Kicked 1 session")

	if os.Getenv(browser.EnvScreenshots) == "1" {
		// For the README's picture: a quarter of a minute of rows and sparklines.
		testenv.Eventually(t, 40*time.Second, func() bool {
			n, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('#live-table tbody tr').length`))
			return n >= 15
		}, "the live table did not reach 15 rows")
	}
	browser.ScreenshotViewport(t, tab, browser.ScreenshotPath(t, "ops-page.png"))
	browser.Screenshot(t, tab, browser.ScreenshotPath(t, "ops-page-full.png"))

	// Hot-restart a node: the request reaches its process (which runs the
	// hot restart as for SIGUSR2: cmd/tether).
	browser.Do(t, tab, "hot-restart the kept node", 20*time.Second,
		chromedp.Click(chromedp.CSS(`li[data-node="`+c.keep.NodeID+`"] button.hot-restart`)),
		confirmWith("new build"))
	select {
	case <-c.keep.HotRestartRequests():
	case <-time.After(15 * time.Second):
		t.Fatal("the hot-restart request never reached the node's process")
	}

	// Drain the other node: it drains and stops, and the list says so.
	browser.Do(t, tab, "drain a node", 20*time.Second,
		chromedp.Click(chromedp.CSS(`li[data-node="`+c.drain.NodeID+`"] button.drain`)),
		confirmWith("host maintenance"))
	select {
	case <-c.drain.Drained():
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not drain")
	}
	browser.Do(t, tab, "the list shows the drained node stopped", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#node-list li[data-node="`+c.drain.NodeID+`"] .badge.stopped`)))
	nodes, err := c.api.core.ops.Registry.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == c.drain.NodeID && n.State != route.StateStopped {
			t.Fatalf("drained node listed %q", n.State)
		}
	}

	// Log out: the page is refused again.
	browser.Do(t, tab, "log out", 20*time.Second,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#key")))
	if st := fetchStatus(t, tab, "GET", "/ops/api/state"); st != 401 {
		t.Fatalf("GET api/state after logout: %d, want 401", st)
	}
}
