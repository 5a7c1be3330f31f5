package loadgen

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The request bodies the push senders build by hand must be the JSON the
// API's schema takes: one user, a TTL and the payload with its id, step
// and send time.
func TestPushBench_RequestBodyIsValidJSON(t *testing.T) {
	b := appendPushRequest(nil, 42, pushPayload{Bench: 1, Step: 3, ID: 7<<48 | 3<<32 | 9, SentNS: 123})
	var req struct {
		UserIDs []int64     `json:"user_ids"`
		TTL     int         `json:"ttl_seconds"`
		Payload pushPayload `json:"payload"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if len(req.UserIDs) != 1 || req.UserIDs[0] != 42 || req.TTL != 60 || req.Payload != (pushPayload{Bench: 1, Step: 3, ID: 7<<48 | 3<<32 | 9, SentNS: 123}) {
		t.Fatalf("decoded %+v from %s", req, b)
	}
}

// The p99 target is measured at the 10,000/s single step only; when that
// step never ran it is missed with a note, never met with a zero value.
func TestPushBench_TargetsP99At10kOnlyWhenThatStepRan(t *testing.T) {
	r := PushBenchResult{Users: pushBenchUsers, SustainedSingle: 5000, SustainedBatch: 40000,
		Single: []PushStep{{Rate: 5000, Sustained: true, EndToEnd: Latency{P99: 1}}, {Rate: 7500, EndToEnd: Latency{P99: 2}}}}
	ts := r.Targets()
	if len(ts) != 3 || ts[0].Met || !ts[1].Met || ts[2].Met || !strings.Contains(ts[2].Note, "7500/s") || ts[2].Value != 0.002 {
		t.Fatalf("targets: %+v", ts)
	}
	if ts := (PushBenchResult{Users: pushBenchUsers}).Targets(); ts[2].Met || ts[2].Note == "" {
		t.Fatalf("no single step: %+v", ts[2])
	}
	r.Single = append(r.Single, PushStep{Rate: 10000, EndToEnd: Latency{P99: 8}})
	ts = r.Targets()
	if !ts[2].Met || ts[2].Value != 0.008 || ts[2].Note != "" {
		t.Fatalf("p99 at 10,000/s: %+v", ts[2])
	}
	r.Users = 50
	if ts := r.Targets(); ts[0].Note == "" || ts[2].Note == "" {
		t.Fatalf("a smaller run must say so: %+v", ts)
	}
}

// The run-queue wait of a process that is gone (or not measured) is 0, not
// an error; of this process it is readable.
func TestPushBench_RunqueueWait(t *testing.T) {
	if runqueueWait(0) != 0 || runqueueWait(1<<30) != 0 {
		t.Fatal("a missing process must read as 0")
	}
	if _, err := os.Stat("/proc/self/task"); err == nil && runqueueWait(os.Getpid()) < 0 {
		t.Fatal("negative wait")
	}
}
