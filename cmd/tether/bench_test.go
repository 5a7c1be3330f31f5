package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/internal/testenv"
)

// envActAsTether makes the test binary behave as the tether binary, so that
// the bench can start it as its node and its workers.
const envActAsTether = "TETHER_TEST_ACT_AS_TETHER"

func TestMain(m *testing.M) {
	if os.Getenv(envActAsTether) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// benchRun runs `tether bench` with this test binary as node and workers.
func benchRun(t *testing.T, args ...string) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envActAsTether, "1") // inherited by the processes the bench starts
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args = append(args, "--exe", exe, "--redis-addr", testenv.RedisAddr(), "--timeout", "2m")
	if !slices.Contains(args, "--results") {
		args = append(args, "--results", t.TempDir()) // never into the source tree
	}
	if code := run(ctx, append([]string{"bench"}, args...), os.Getenv, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("tether bench %s: exit %d\n%s", args[0], code, errb.String())
	}
	t.Logf("tether bench %s:\n%s", args[0], errb.String())
	return out.Bytes()
}

// The smoke version of the measurement in docs/memory.md: 600 connections
// over two worker processes, each receiving a message and then idling. The
// bench itself fails unless every connection completes its handshake,
// receives its message and survives the idle window.
func TestBenchSmoke_Idle_EveryConnectionReceivesAndStaysAndIdleSessionsAreLean(t *testing.T) {
	out := benchRun(t, "idle", "--n", "600", "--workers", "2", "--heartbeat", "1s", "--settle", "500ms", "--cpu-window", "1s")
	var r loadgen.IdleResult
	benchResults(t, out, "idle", &r)
	if r.Connections != 600 || r.Workers != 4 || r.ConnectRate <= 0 || r.RSS <= 0 || r.CPUWindowSeconds <= 0 {
		t.Fatalf("implausible result: %+v", r)
	}
	// The node's heap growth from the first 300 idle sessions to all 600
	// (RSS is inflated under -race, and the whole-run figure is dominated
	// by what the node allocates once when only 600 connections share it).
	// Before memory.go an idle session cost ~16 KiB (netpoll's default
	// buffers); now ~3 KiB.
	if r.MarginalHeap > 6<<10 {
		t.Errorf("heap in use per additional idle connection is %.0f bytes, want under 6 KiB", r.MarginalHeap)
	}
	if r.GoroutinesPerConn > 0.01 {
		t.Errorf("%.3f goroutines per idle connection, want none", r.GoroutinesPerConn)
	}
}

func TestBenchSmoke_Broadcast_EveryConnectionGetsEachBroadcastOnce(t *testing.T) {
	out := benchRun(t, "broadcast", "--n", "300", "--workers", "2", "--rounds", "2")
	var r loadgen.BroadcastResult
	benchResults(t, out, "broadcast", &r)
	if r.Connections != 300 || len(r.Rounds) != 2 || r.Median <= 0 {
		t.Fatalf("implausible result: %+v", r)
	}
}

func TestBench_RefusesMoreConnectionsPerWorkerThanAProcessMayHold(t *testing.T) {
	var errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "idle", "--n", "20000", "--workers", "2", "--exe", "/nonexistent"},
		os.Getenv, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code == 0 || !strings.Contains(errb.String(), "per worker process") {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
}

// benchResults checks that out is one result document of the scenario
// (with its machine, parameters and targets) and decodes its results into r.
func benchResults(t *testing.T, out []byte, scenario string, r any) loadgen.Document {
	t.Helper()
	var doc loadgen.Document
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, out)
	}
	if doc.Scenario != scenario || doc.StartedAt.IsZero() || !strings.HasPrefix(doc.Command, "tether bench "+scenario+" ") ||
		doc.Machine.Cores <= 0 || len(doc.Params) == 0 || len(doc.Targets) == 0 {
		t.Fatalf("incomplete result document: %s", out)
	}
	if err := json.Unmarshal(doc.Results, r); err != nil {
		t.Fatalf("results: %v\n%s", err, doc.Results)
	}
	return doc
}

// Two nodes sharing one Redis prefix, 20 connections each: every
// connection connects, each broadcast (one XADD) reaches all 40 once, and
// the result document is appended to the results folder.
func TestBenchSmoke_Cluster_EveryBroadcastReachesEveryConnectionOfEveryNode(t *testing.T) {
	dir := t.TempDir()
	out := benchRun(t, "cluster", "--nodes", "2", "--per-node", "20", "--workers", "1", "--rounds", "3", "--settle", "100ms", "--results", dir)
	var r loadgen.ClusterResult
	doc := benchResults(t, out, "cluster", &r)
	if r.Nodes != 2 || r.Connections != 40 || r.Workers != 2 || len(r.PerNode) != 2 || r.Reached != 3 || len(r.Rounds) != 3 ||
		r.AllMax <= 0 || r.AllP50 > r.AllMax || r.ConnectRate <= 0 || r.PerNode[0].RSS <= 0 || r.PerNode[0].NodeID == r.PerNode[1].NodeID {
		t.Fatalf("implausible result: %+v", r)
	}
	if doc.Params["nodes"] != 2.0 || doc.Params["per-node"] != 20.0 {
		t.Fatalf("params: %v", doc.Params)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cluster-*.json"))
	if len(files) != 1 {
		t.Fatalf("result files: %v", files)
	}
	saved, err := os.ReadFile(files[0])
	if err != nil || !bytes.Equal(bytes.TrimSpace(saved), bytes.TrimSpace(out)) {
		t.Fatalf("saved result differs from the printed one (%v):\n%s", err, saved)
	}
}

func TestBench_ClusterRefusesMoreThanTheBoundOfConnections(t *testing.T) {
	var errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "cluster", "--nodes", "5", "--per-node", "15000", "--exe", "/nonexistent", "--results", ""},
		os.Getenv, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code == 0 || !strings.Contains(errb.String(), "over 60000 connections") {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
}
