package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/live"
)

var httpAddrRe = regexp.MustCompile(`\shttp=(127\.0\.0\.1:[1-9]\d*)`)

// TestTop_OnceJSONIsParseableAndShowsTheDevNodesWork runs `tether dev`,
// registers a user, and reads `tether top --once --json` (one process) and
// `--cluster --once --json` (the cluster through the admin address) back.
func TestTop_OnceJSONIsParseableAndShowsTheDevNodesWork(t *testing.T) {
	t.Parallel()
	args := []string{"dev", "--http", "127.0.0.1:0", "--push", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir()}
	log, stop := serve(t, args, nil, "dev started")
	t.Cleanup(func() { stop() })
	admin := "http://" + addrRe.FindStringSubmatch(log())[1]
	api := client.NewAPI("http://"+httpAddrRe.FindStringSubmatch(log())[1], nil)
	var s live.Snapshot
	n := 0
	if !waitFor(15*time.Second, func() bool {
		// --once shows the newest second: register in the one before.
		n++
		if _, err := api.Register(context.Background(), "topuser"+strconv.Itoa(n), "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		code, out, stderr := runCmd(context.Background(), nil, "top", "--admin", admin, "--once", "--json")
		if code != 0 {
			t.Fatalf("top --once --json: code %d, %s", code, stderr)
		}
		if strings.Count(out, "\n") != 1 {
			t.Fatalf("top --once --json printed %d lines, want one document:\n%s", strings.Count(out, "\n"), out)
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("top --once --json: %v\n%s", err, out)
		}
		for _, u := range s.Units {
			if u.Layer == "http" && u.Name == "/v1/accounts" && u.Calls >= 1 {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the registration never showed in a second of top --once --json; last: %+v", s)
	}
	if s.Process != "dev" || s.Role != live.RoleDev || s.Seconds <= 0 || s.Work.Calls < 1 {
		t.Errorf("snapshot = process %q role %q seconds %v work %+v", s.Process, s.Role, s.Seconds, s.Work)
	}

	code, out, stderr := runCmd(context.Background(), nil, "top", "--admin", admin, "--cluster", "--once", "--json")
	var v live.ClusterView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("top --cluster --once --json: code %d, %s%s", code, out, stderr)
	}
	if len(v.Processes) != 1 || v.Processes[0].Process != "dev" || v.Sum.Work.Calls != v.Processes[0].Work.Calls {
		t.Errorf("cluster = %d processes, sum calls %d: %+v", len(v.Processes), v.Sum.Work.Calls, v.Processes)
	}
}

// TestTop_IdleNodeShowsZeroTimeoutsAndErrorsInTheTable reads the table an
// operator sees on an idle `tether dev`: the htime and err columns are 0.
func TestTop_IdleNodeShowsZeroTimeoutsAndErrorsInTheTable(t *testing.T) {
	t.Parallel()
	args := []string{"dev", "--http", "127.0.0.1:0", "--push", "127.0.0.1:0", "--ws", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", t.TempDir()}
	log, stop := serve(t, args, nil, "dev started")
	t.Cleanup(func() { stop() })
	admin := "http://" + addrRe.FindStringSubmatch(log())[1]
	time.Sleep(3 * time.Second) // past the start's seconds: idle is what follows
	code, out, stderr := runCmd(context.Background(), nil, "top", "--admin", admin, "--once")
	if code != 0 {
		t.Fatalf("top --once: code %d, %s", code, stderr)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour escapes written to a pipe:\n%q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("top --once printed %d lines, want a header and a row:\n%s", len(lines), out)
	}
	head, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(head) != len(row) {
		t.Fatalf("header has %d columns, row %d:\n%s", len(head), len(row), out)
	}
	cell := map[string]string{}
	for i, h := range head {
		cell[h] = row[i]
	}
	for _, col := range []string{"htime", "err", "shed", "cmdq", "pend", "slowKB"} {
		if cell[col] != "0" {
			t.Errorf("idle node: %s = %q, want 0\n%s", col, cell[col], out)
		}
	}
	if cell["process"] != "dev" {
		t.Errorf("process = %q", cell["process"])
	}
}
