package stack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

// samples scrapes a /metrics page and returns family -> samples, each
// sample its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

func scrape(t *testing.T, url string) map[string][]sample {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	out := map[string][]sample{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// An idle node with a connected client, Redis stream readers blocking in
// XREADGROUP (unit redis/xreadgroup_block), heartbeats re-creating consumer groups (BUSYGROUP), scripts
// loaded on first use (NOSCRIPT), and a registration that finds its
// username taken: none of that is a timeout or a server error. The taken
// username is one client error, at the HTTP layer and at the SQL layer.
func TestStartDev_IdleNodeShowsNoTimeoutsAndNoServerErrors(t *testing.T) {
	t.Parallel()
	d, err := StartDev(context.Background(), devConfig(t, t.TempDir()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + d.HTTPAddr
	rest := client.NewAPI(base, nil)
	if _, err := rest.Register(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}
	alice := client.New(client.Config{
		APIBase: base, PushAddr: d.PushAddr, Username: "alice", Password: password,
		DeviceID: "alice-phone", Handler: func(tether.Entry) {},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- alice.Run(runCtx) }()
	defer func() { stop(); <-done }()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.Sessions() == 1 }, "alice's push session")

	if _, err := rest.Register(ctx, "alice", password); err == nil || !strings.Contains(err.Error(), string(tether.ECONFLICT)) {
		t.Fatalf("second registration of alice: %v, want a conflict", err)
	}
	metricsURL := "http://" + d.AdminAddr + "/metrics"
	// Idle long enough for several blocking reads (1 s each) and heartbeats.
	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, s := range scrape(t, metricsURL)["tether_calls_total"] {
			if s.labels["name"] == "xreadgroup_block" && s.value >= 6 {
				return true
			}
		}
		return false
	}, "six blocking reads (three seconds idle)")

	got := scrape(t, metricsURL)
	var clientErrs float64
	for _, s := range got["tether_errors_total"] {
		switch s.labels["class"] {
		case "client":
			clientErrs += s.value
		default:
			t.Errorf("server error on an idle node: %v = %v", s.labels, s.value)
		}
	}
	if clientErrs < 2 {
		t.Errorf("client errors = %v, want the taken username counted at the HTTP and SQL layers", clientErrs)
	}
	for _, s := range got["tether_timeouts_total"] {
		// A blocking read waits as long as it asked to: never a timeout.
		// Any other unit is held to its budget, which a loaded test machine
		// may overrun now and then; that is logged, not failed.
		if s.labels["layer"] == "redis" && strings.HasSuffix(s.labels["name"], "_block") {
			t.Errorf("the blocking read counted %v timeouts", s.value)
		} else if s.value > 0 {
			t.Logf("timeouts on a loaded machine: %v = %v", s.labels, s.value)
		}
	}
}
