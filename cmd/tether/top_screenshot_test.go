package main

import (
	"context"
	"html"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tetherim/tether/internal/browser"
	"github.com/tetherim/tether/push/client"
)

// TestTop_StreamsOneRowASecondAndRendersForTheREADME runs `tether top`
// (not --once) against a working `tether dev` for a few seconds: it must
// print a header and then one row per second, each for a later second.
// The output is then shown in headless Chromium as a terminal would show
// it (a pipe has no colour) and saved as docs/tether-top.png when
// TETHER_UPDATE_SCREENSHOTS=1, the README's picture of tether top.
func TestTop_StreamsOneRowASecondAndRendersForTheREADME(t *testing.T) {
	t.Parallel()
	args := []string{"dev", "--http", "127.0.0.1:0", "--push", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir()}
	log, stop := serve(t, args, nil, "dev started")
	t.Cleanup(func() { stop() })
	admin := "http://" + addrRe.FindStringSubmatch(log())[1]
	api := client.NewAPI("http://"+httpAddrRe.FindStringSubmatch(log())[1], nil)

	// Some work for the table to show while top runs.
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = api.Register(ctx, "topshot"+strconv.Itoa(i), "correct horse battery")
			time.Sleep(150 * time.Millisecond)
		}
	}()
	_, out, stderr := runCmd(ctx, nil, "top", "--admin", admin)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var rows []string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && f[0] != strings.Fields(lines[0])[0] {
			rows = append(rows, l)
		}
	}
	if len(rows) < 4 {
		t.Fatalf("tether top printed %d rows in 7 s, want one a second:\n%s%s", len(rows), out, stderr)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		when := strings.Fields(r)[0]
		if seen[when] {
			t.Errorf("second %s printed twice:\n%s", when, out)
		}
		seen[when] = true
	}
	if !strings.Contains(out, "/v1/accounts") && !strings.Contains(out, "dev") {
		t.Errorf("the table never named the dev process:\n%s", out)
	}

	page := `<html><body style="margin:0;background:#1e1e1e"><pre id="term" style="margin:0;padding:16px;color:#d4d4d4;font:13px/1.35 'DejaVu Sans Mono',monospace">` +
		html.EscapeString("$ tether top --admin http://127.0.0.1:9090\n"+out) + `</pre></body></html>`
	tab := browser.Tab(t, browser.Options{Width: 1720, Height: 200, Scale: 1})
	browser.Do(t, tab, "show the output", 20*time.Second,
		chromedp.Navigate("data:text/html;charset=utf-8,"+strings.ReplaceAll(urlEscape(page), "#", "%23")),
		chromedp.WaitVisible(chromedp.CSS("#term")))
	browser.Screenshot(t, tab, browser.ScreenshotPath(t, "tether-top.png"))
}

// urlEscape makes page safe inside a data: URL.
func urlEscape(page string) string {
	r := strings.NewReplacer("%", "%25", "\n", "%0A", " ", "%20", `"`, "%22", "<", "%3C", ">", "%3E")
	return r.Replace(page)
}
