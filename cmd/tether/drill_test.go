package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/drill"
)

// The quick fault drill, as CI runs it: a real cluster (2 API, 2 push, its
// own MariaDB and Redis) under load through a node kill -9, a node that
// vanishes without FIN, an API kill -9 mid-sends, API answers lost after
// the work was done, a Redis kill -9 restarted empty and a MariaDB kill -9. It fails on any message lost, duplicated, reordered,
// stuck or delivered to the wrong user, checked frame by frame and
// against the database.
func TestDrill_Quick_NoLossDuplicateReorderOrCrossUserUnderFaults(t *testing.T) {
	for _, bin := range []string{"redis-server", "mariadb-install-db"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (deployments/local/services.sh installs it)", bin)
		}
	}
	exe, err := buildTether() // upgrade_test.go: a plain build, lighter than this -race test binary
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"drill", "--quick", "--json", "--exe", exe}, nil, strings.NewReader(""), &out, &errb)
	t.Logf("tether drill --quick (exit %d):\n%s", code, errb.String())
	var rep drill.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("no report on stdout: %v\n%s", err, out.String())
	}
	if code != 0 || !rep.Passed {
		t.Fatalf("drill failed (exit %d): %v", code, rep.Violations)
	}
	rows := map[string]drill.Row{}
	for _, r := range rep.Rows {
		rows[r.Fault] = r
		if r.Accepted == 0 || r.Delivered != r.Accepted {
			t.Errorf("%s: accepted %d, delivered %d: the load did not run through the fault", r.Fault, r.Accepted, r.Delivered)
		}
	}
	// The faults really happened: clients were cut off and came back,
	// sends to the killed API failed and were retried.
	for _, f := range []string{"push-kill", "push-vanish"} {
		if rows[f].Disconnects == 0 {
			t.Errorf("%s: no client was disconnected", f)
		}
	}
	for _, f := range []string{"api-kill", "mysql-kill"} {
		if r := rows[f]; r.FailedRequests == 0 || r.Retried == 0 {
			t.Errorf("%s: %d failed requests, %d retried sends: the fault hit no send", f, r.FailedRequests, r.Retried)
		}
	}
	// Answers lost after the commit: the retries found the stored message.
	if r := rows["api-answer-lost"]; r.RetriedDup == 0 {
		t.Errorf("api-answer-lost: no retry was answered 200: %+v", r)
	}
	if rep.Messages == 0 || rep.Frames == 0 {
		t.Errorf("implausible report: %+v", rep)
	}
}
