package dephealth

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var errRefused = errors.New("MOVED 1234 127.0.0.1:7001")

func refused(err error) bool { return errors.Is(err, errRefused) }

func TestDep_UsableOnlyAfterRealSuccessAndUntilARefusal(t *testing.T) {
	d := NewSet().Add("redis", refused)
	if err := d.Usable(); !errors.Is(err, ErrNeverUsed) {
		t.Fatalf("Usable before any use = %v, want ErrNeverUsed", err)
	}
	d.Observe(time.Millisecond, errRefused)
	if err := d.Usable(); !errors.Is(err, errRefused) {
		t.Fatalf("Usable after a refusal = %v", err)
	}
	d.Observe(time.Millisecond, nil)
	if err := d.Usable(); err != nil {
		t.Fatalf("Usable after a success = %v", err)
	}
	// An outage (no answer) after a success: down, but still usable.
	d.Observe(time.Second, io.ErrUnexpectedEOF)
	if st := d.Status(); st.Up || st.LastError == "" {
		t.Fatalf("status after an outage = %+v", st)
	}
	if err := d.Usable(); err != nil {
		t.Fatalf("Usable after an outage = %v", err)
	}
	d.Observe(time.Millisecond, errRefused)
	if d.Usable() == nil {
		t.Fatal("usable after a refusal that followed a success")
	}
}

func TestSet_HealthJSONAndGaugesReportEachDependency(t *testing.T) {
	s := NewSet()
	db, rdb := s.Add("database", nil), s.Add("redis", refused)
	_ = db.Check(context.Background(), func(context.Context) error { return nil })
	rdb.Observe(3*time.Millisecond, errors.New("dial tcp: connection refused"))

	rec := httptest.NewRecorder()
	s.ServeHealth(rec)
	body := rec.Body.String()
	for _, want := range []string{`"database":{"up":true`, `"redis":{"up":false`, `"last_error":"dial tcp: connection refused"`, `"latency_ms":3`} {
		if !strings.Contains(body, want) {
			t.Errorf("healthz body lacks %s:\n%s", want, body)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	want := `
# HELP tether_dependency_up 1 if the last use or check of the dependency succeeded, 0 if not.
# TYPE tether_dependency_up gauge
tether_dependency_up{dep="database"} 1
tether_dependency_up{dep="redis"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tether_dependency_up"); err != nil {
		t.Fatal(err)
	}
}

func TestDep_ARefusedUseIsClearedOnlyByThatUse(t *testing.T) {
	d := NewSet().Add("redis", refused)
	d.ObserveUse("stream", time.Millisecond, nil)
	d.ObserveUse("heartbeat", time.Millisecond, errRefused)
	d.ObserveUse("stream", time.Millisecond, nil) // another key, on this node
	if err := d.Usable(); !errors.Is(err, errRefused) || !strings.HasPrefix(err.Error(), "heartbeat: ") {
		t.Fatalf("Usable = %v, want the heartbeat's refusal", err)
	}
	d.ObserveUse("heartbeat", time.Millisecond, nil)
	if err := d.Usable(); err != nil {
		t.Fatalf("Usable after the heartbeat worked = %v", err)
	}
}
