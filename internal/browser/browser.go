// Package browser drives a real headless Chromium from Go tests, at a phone
// viewport first, with chromedp (the Chrome DevTools Protocol; no Node.js).
// The browser is Debian's chromium package, which
// deployments/local/services.sh installs (make test and CI run it);
// TETHER_CHROMIUM names another binary. A test gets a tab with Tab and
// drives it with chromedp's actions; Screenshot saves what a person would
// see as a PNG.
//
// docs/browser-tests.md says how to run and write such tests.
package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The phone viewport the pages are tested at first: an iPhone 12 to 15's
// CSS pixels.
const (
	PhoneWidth  = 390
	PhoneHeight = 844
)

// EnvChromium names the Chromium binary to use instead of the one on PATH.
const EnvChromium = "TETHER_CHROMIUM"

// Binary returns the Chromium to run, or fails the test saying how to get one.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: run deployments/local/services.sh (make test does), apt-get install chromium, or set " + EnvChromium)
	return ""
}

// Options configure a tab.
type Options struct {
	Width, Height int     // CSS pixels; default the phone's
	Scale         float64 // device pixels per CSS pixel; default 2, as on a phone
}

// Tab starts a headless Chromium with a fresh profile (no cookies) and
// returns a tab's context, for chromedp.Do and chromedp.Run. The browser
// stops when the test ends. Bound each step with a context derived from
// this one (context.WithTimeout): a timeout on the tab's own context would
// stop the browser. The page's console errors and uncaught exceptions are
// logged to the test.
func Tab(t testing.TB, o Options) context.Context {
	t.Helper()
	if o.Width == 0 {
		o.Width, o.Height = PhoneWidth, PhoneHeight
	}
	if o.Scale == 0 {
		o.Scale = 2
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Binary(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in CI, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(o.Width, o.Height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(o.Width), int64(o.Height),
		chromedp.EmulateScale(o.Scale), chromedp.EmulateMobile)); err != nil {
		t.Fatalf("browser: start %s: %v", Binary(t), err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == "error" {
				t.Logf("browser console %s: %s", m.Type, m.Text)
			}
		}
	}()
	return ctx
}

// Do runs steps in the tab, each run bounded by timeout, failing the test
// with what was being done.
func Do(t testing.TB, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// Screenshot saves the whole page (not only the viewport) as a PNG at path,
// scrolled to the top first so that sticky elements sit where a person
// opening the page sees them.
func Screenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	save(t, ctx, path, chromedp.FullScreenshot(100))
}

// ScreenshotViewport saves what the viewport shows at the top of the page:
// the first screen of a phone.
func ScreenshotViewport(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	save(t, ctx, path, chromedp.CaptureScreenshot())
}

func save(t testing.TB, ctx context.Context, path string, shot chromedp.Action[[]byte]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0); true`)); err != nil {
		t.Fatalf("browser: scroll to the top: %v", err)
	}
	png, err := chromedp.Run(sctx, shot)
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("browser: screenshot %s (%d bytes)", path, len(png))
}

// EnvScreenshots, set to 1, makes ScreenshotPath answer the repository's
// docs/ directory, so a run refreshes the README's pictures; otherwise
// screenshots go to the test's temporary directory.
const EnvScreenshots = "TETHER_UPDATE_SCREENSHOTS"

// ScreenshotPath is where a test saves the screenshot named name: docs/ at
// the repository root (found from the test's directory) when
// TETHER_UPDATE_SCREENSHOTS=1, else a temporary directory.
func ScreenshotPath(t testing.TB, name string) string {
	t.Helper()
	if os.Getenv(EnvScreenshots) != "1" {
		return filepath.Join(t.TempDir(), name)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docs", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("browser: no go.mod above the test's directory")
		}
		dir = parent
	}
}
