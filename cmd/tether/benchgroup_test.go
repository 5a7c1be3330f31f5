package main

import (
	"testing"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/internal/testenv"
)

// A 30-member group with 10 members online in two processes: every message
// reaches every online member once, and the result document is complete.
func TestBenchSmoke_Group(t *testing.T) {
	out := benchRun(t, "group", "--mysql-server", testenv.MySQLServer(), "--members", "30", "--online", "10", "--receivers", "2",
		"--messages", "5", "--rate", "20", "--grace", "20s")
	var r loadgen.GroupResult
	doc := benchResults(t, out, "group", &r)
	if r.Members != 30 || r.Online != 10 || len(doc.Targets) != 3 {
		t.Fatalf("implausible result: %+v", r)
	}
	if r.Accepted != 5 || r.Failed != 0 || r.Complete != 5 || r.Missing != 0 || r.Dupes != 0 {
		t.Fatalf("not every message reached every online member once: %+v", r)
	}
	if r.Accept.N != 5 || r.AllOnline.N != 5 || r.EachOne.N != 50 || r.AllOnline.Max < r.AllOnline.P50 || r.AllOnline.Max <= 0 {
		t.Fatalf("implausible latencies: %+v", r)
	}
}
