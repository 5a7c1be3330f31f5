package stack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPushAPI_MeasureThroughput is an opt-in measurement of the push API's
// transient path (TETHER_MEASURE_PUSH_API=1): an API on MariaDB and Redis,
// no push node (the users are offline, so each push is one run of the send
// script, api/pushapi/send_script.go, with no XADD), clients in this process. It logs requests and
// pushes per second with p50 and p99 latency, single and batched.
func TestPushAPI_MeasureThroughput(t *testing.T) {
	if os.Getenv("TETHER_MEASURE_PUSH_API") == "" {
		t.Skip("set TETHER_MEASURE_PUSH_API=1 to measure")
	}
	a, _ := startPushAPI(t)
	base := "http://" + a.HTTPAddr
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	post := func(key, path string, body []byte) (int, []byte, time.Duration) {
		r, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", key)
		start := time.Now()
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, out, time.Since(start)
	}
	b, _ := json.Marshal(map[string]any{"name": "bench", "scopes": []string{"push"}, "rate_limit": 1000000})
	_, out, _ := post(stackAdminKey, "/v1/admin/api-keys", b)
	var key struct{ Secret string }
	if err := json.Unmarshal(out, &key); err != nil {
		t.Fatal(err)
	}
	single := map[string]any{"user_ids": []int{1, 2, 3}, "payload": map[string]any{"t": "x"}}
	run := func(name string, conc int, path string, body any, perRequest int) {
		raw, _ := json.Marshal(body)
		var n atomic.Int64
		var mu sync.Mutex
		var lats []time.Duration
		end := time.Now().Add(5 * time.Second)
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				var mine []time.Duration
				for time.Now().Before(end) {
					st, _, d := post(key.Secret, path, raw)
					if st != http.StatusAccepted {
						t.Errorf("status %d", st)
						return
					}
					n.Add(1)
					mine = append(mine, d)
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(lats) == 0 {
			t.Fatal("no requests")
		}
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		t.Logf("%s: %d clients, %.0f requests/s, %.0f pushes/s, p50 %v, p99 %v", name, conc,
			float64(n.Load())/5, float64(n.Load()*int64(perRequest))/5, lats[len(lats)/2], lats[len(lats)*99/100])
	}
	run("single", 32, "/v1/push", single, 1)
	pushes := make([]any, 100)
	for i := range pushes {
		pushes[i] = single
	}
	run("batch of 100", 8, "/v1/push/batch", map[string]any{"pushes": pushes}, 100)
}
