package contract

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	prismTimeout      = 3 * time.Minute  // the whole proxy run
	prismStartTimeout = 60 * time.Second // until it answers
)

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// The Go client's flow, run through `prism proxy --errors` in front of tether
// dev, meets the contract: Prism validates every request and response
// against openapi.yaml, turns any violation into an error response (which
// the flow's status checks catch), and logs it (which the scan below
// catches).
func TestPrismProxy_FlowHasNoContractViolations(t *testing.T) {
	t.Parallel()
	nodeModules(t)
	api := startDev(t)
	proxy := "http://127.0.0.1:" + freePort(t)

	ctx, cancel := context.WithTimeout(context.Background(), prismTimeout)
	log := &lockedBuffer{}
	cmd := command(ctx, tsDir, toolEnv(), "npx", "--no", "--",
		"prism", "proxy", "--errors", "../"+specPath, api, "--host", "127.0.0.1", "--port", strings.TrimPrefix(proxy, "http://127.0.0.1:"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prism: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Registered after startDev, so it runs first: Prism goes before the API.
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	if err := waitForHTTP(ctx, proxy+"/healthz", exited); err != nil {
		t.Fatalf("prism did not come up: %v\n%s", err, log)
	}
	runFlow(t, proxy, api)
	runBreadthFlow(t, proxy, api)
	noRoute(t, api)

	out := log.String()
	if forwarded := strings.Count(out, "Forwarding"); forwarded < 20 {
		t.Fatalf("only %d requests went through prism:\n%s", forwarded, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "✖") || strings.Contains(line, "⚠") || strings.Contains(line, "VIOLATIONS") || strings.Contains(line, "Violation") {
			t.Errorf("prism: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("prism output:\n%s", out)
	}
}

// waitForHTTP polls url until it answers 200, the context ends, or the
// process behind it exits.
func waitForHTTP(ctx context.Context, url string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, prismStartTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return errors.Join(errors.New("prism exited"), err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
