package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/internal/testenv"
)

// A tiny push bench against a started stack (this test binary acting as
// tether): every accepted push reaches its receiver exactly once, in both
// modes, and each step records latencies and the processes' figures.
func TestBenchSmoke_Push(t *testing.T) {
	out := benchRun(t, "push", "--mysql-server", testenv.MySQLServer(), "--users", "20", "--senders", "1", "--receivers", "2",
		"--concurrency", "4", "--rates", "50,100", "--batch-rates", "200", "--batch", "10", "--step", "1s", "--grace", "10s", "--max-p99", "10s")
	var r loadgen.PushBenchResult
	doc := benchResults(t, out, "push", &r)
	// A mode stops at its first step it cannot sustain, which on a loaded
	// machine may be the first: rates are speed figures, not asserted.
	if r.Users != 20 || len(r.Single) == 0 || len(r.Batched) != 1 || len(doc.Targets) != 3 || doc.Targets[0].Note == "" {
		t.Fatalf("implausible result: %+v\ntargets: %+v", r, doc.Targets)
	}
	var apiCPU float64
	for _, s := range append(r.Single, r.Batched...) {
		if s.Accepted == 0 || s.Failed != 0 || s.Untargeted != 0 || s.Lost != 0 || s.Duplicates != 0 ||
			s.Delivered != s.Accepted || s.EndToEnd.N != s.Accepted || s.Accept.N != s.Requests {
			t.Fatalf("%s step %d/s: %+v", s.Mode, s.Rate, s)
		}
		if s.API.RSSBytes <= 0 || s.Push.RSSBytes <= 0 {
			t.Errorf("%s step %d/s: no /proc figures: %+v %+v", s.Mode, s.Rate, s.API, s.Push)
		}
		apiCPU += s.API.CPUSeconds
	}
	// Per step it can be under a clock tick; over the run it is not.
	if apiCPU <= 0 {
		t.Errorf("no API CPU time read from /proc over %d steps", len(r.Single)+len(r.Batched))
	}
	if b := r.Batched[0]; b.Requests != b.Accepted/10 {
		t.Errorf("batched step: %d requests for %d pushes, want batches of 10", b.Requests, b.Accepted)
	}
	t.Logf("sustained %d single, %d batched", r.SustainedSingle, r.SustainedBatch)
}

func TestBenchPush_RunningClusterWithoutItsKeysIsRefused(t *testing.T) {
	var errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "push", "--api", "http://127.0.0.1:1", "--push", "127.0.0.1:1", "--results", ""},
		os.Getenv, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code == 0 || !strings.Contains(errb.String(), "--push-api-key") {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
}
