package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/internal/testenv"
)

// The smoke versions of the persisted scenarios: a fresh MySQL database,
// tether migrate, tether api and tether push as child processes (this test
// binary acting as tether), tiny loads. Each fails unless every accepted
// message reaches its recipient exactly once.

func TestBenchSmoke_Chat(t *testing.T) {
	out := benchRun(t, "chat", "--mysql-server", testenv.MySQLServer(), "--users", "10", "--senders", "1", "--receivers", "2",
		"--rates", "20,40", "--step", "1s", "--grace", "10s", "--max-p99", "10s")
	var r loadgen.ChatResult
	doc := benchResults(t, out, "chat", &r)
	if r.Users != 10 || len(r.Steps) == 0 || len(doc.Targets) != 4 {
		t.Fatalf("implausible result: %+v", r)
	}
	for i, s := range r.Steps {
		if s.Accepted == 0 || s.Lost != 0 || s.Duplicates != 0 || s.Delivered != s.Accepted || s.EndToEnd.N != s.Accepted {
			t.Fatalf("step %d: %+v", i+1, s)
		}
		// Sends share transactions (group commit), so a message may cost
		// less than one statement.
		if s.SQLPerMessage <= 0 || s.SQLCalls <= 0 {
			t.Errorf("step %d: no MySQL time scraped from the API's /metrics: %+v", i+1, s)
		}
		if s.CPU.API <= 0 || s.CPU.Push <= 0 || s.CPU.Total < s.CPU.API+s.CPU.Push {
			t.Errorf("step %d: server CPU per message not measured: %+v", i+1, s.CPU)
		}
		// MariaDB and Redis are found by their listening ports, which needs
		// the right to read their processes' descriptors (root here).
		t.Logf("step %d: CPU ms per message %+v", i+1, s.CPU)
	}
	// Whether 20 msgs/s was sustained is a speed figure, not behaviour: on a
	// loaded machine it is not (17/s was seen), so it is reported, not asserted.
	t.Logf("first step: sustained %v %s", r.Steps[0].Sustained, r.Steps[0].Why)
}

func TestBenchSmoke_Frames(t *testing.T) {
	// The heartbeat_acks switch decides how the clients ack: version 2 on
	// heartbeats only, version 1 with Ack frames batched every 200 ms.
	for _, v2 := range []bool{true, false} {
		out := benchRun(t, "frames", "--mysql-server", testenv.MySQLServer(), "--users", "5", "--senders", "1", "--receivers", "1",
			"--rate", "100", "--duration", "2s", "--grace", "10s", "--heartbeat", "1s", "--burst", "5", "--heartbeat-acks="+strconv.FormatBool(v2))
		var r loadgen.FramesResult
		benchResults(t, out, "frames", &r)
		f := r.Frames
		if r.Lost != 0 || f.Delivered == 0 || f.Frames != f.Acks+f.Pings+f.Heartbeats+f.Hellos || r.Burst == nil {
			t.Fatalf("implausible frames: %+v", r)
		}
		if b := r.Burst; b.Frames.Received < 5*5 || b.BothWays < 5 {
			t.Fatalf("burst of 5 to 5 recipients: %+v", b)
		}
		if v2 {
			// Heartbeats carry every ack: no Ack frame, no Ping, in the
			// steady step or the burst.
			if f.Acks != 0 || f.Pings != 0 || f.Heartbeats == 0 || r.Burst.Frames.Acks != 0 {
				t.Errorf("version 2: %d acks, %d pings, %d heartbeats, burst %d acks; want heartbeats only", f.Acks, f.Pings, f.Heartbeats, r.Burst.Frames.Acks)
			}
			continue
		}
		// 100 msgs/s to 5 recipients is 20 each a second; version 1 acks
		// cumulatively every 200ms, so about 5 acks a second each: well
		// under one frame per message (one per message would be 1,000).
		if f.Heartbeats != 0 || f.Acks == 0 || f.PerThousand > 500 {
			t.Errorf("version 1: %d heartbeats, %d acks, %.0f client frames per 1,000 delivered; want batched Ack frames", f.Heartbeats, f.Acks, f.PerThousand)
		}
	}
}

func TestBenchSmoke_Storm(t *testing.T) {
	out := benchRun(t, "storm", "--mysql-server", testenv.MySQLServer(), "--n", "30", "--workers", "3", "--targets", "6",
		"--rate", "40", "--before", "500ms", "--after", "300ms", "--wait", "30s")
	var r loadgen.StormResult
	doc := benchResults(t, out, "storm", &r)
	if r.Clients != 30 || r.Workers != 3 || r.NotBack != 0 || r.Back.N != 30 || r.Synced.N != 30 {
		t.Fatalf("not every client came back and synced: %+v", r)
	}
	if r.Sent == 0 || r.Lost != 0 || r.Duplicates != 0 || r.Delivered != r.Sent {
		t.Fatalf("messages lost or duplicated: %+v", r)
	}
	if r.Reconnects < 30 || r.SyncedSeconds <= 0 {
		t.Fatalf("implausible storm: %+v", r)
	}
	if len(doc.Targets) != 2 || doc.Targets[0].Note == "" {
		t.Errorf("targets of a smoke run must say it was smaller: %+v", doc.Targets)
	}
}

func TestBenchStorm_RunningClusterWithoutItsKeyAndDatabaseIsRefused(t *testing.T) {
	var errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "storm", "--n", "3", "--api", "http://127.0.0.1:1", "--push", "127.0.0.1:1", "--results", ""},
		os.Getenv, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code == 0 || !strings.Contains(errb.String(), "--token-key-file and --mysql") {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
}
