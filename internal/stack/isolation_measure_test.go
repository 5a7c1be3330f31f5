package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push/client"
)

// TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook is an opt-in
// measurement (TETHER_ISOLATION_MEASURE=1; run it under the heavy lock):
// one API on MariaDB and Redis with the default bulkheads and the webhook
// on. Phase 1 measures 1:1 send latency with nothing else running and a
// webhook receiver that answers at once. Phase 2 repeats it while 64
// clients flood the push API (far more than its 8 workers and 32 queued)
// and the webhook receiver hangs every request until the test ends (each
// offline message queues a delivery, so the webhook's workers all hang).
// It logs both p99s and their ratio; the target is at most 1.5.
func TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook(t *testing.T) {
	if os.Getenv("TETHER_ISOLATION_MEASURE") == "" {
		t.Skip("set TETHER_ISOLATION_MEASURE=1 to measure")
	}
	var hang atomic.Bool
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	defer close(release)
	a := startAPIWithBulkheads(t, bulkhead.DefaultSpec, func(c *config.APIConfig) {
		c.Webhook.URL, c.Webhook.Secret, c.Webhook.Timeout = hook.URL, "measure-secret", 5*time.Minute
		c.Throttle.SendRate, c.PushAPI.RateLimit = 0, 0
	})
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rest := client.NewAPI(base, nil)
	const senders = 4
	tokens := make([]string, senders)
	var peer int64
	for i := range senders {
		name := "sender" + strconv.Itoa(i)
		if _, err := rest.Register(ctx, name, password); err != nil {
			t.Fatal(err)
		}
		tok, err := rest.Login(ctx, name, password, name+"-d", "web")
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok.AccessToken
	}
	u, err := rest.Register(ctx, "offline-peer", password)
	if err != nil {
		t.Fatal(err)
	}
	peer = u.ID
	var key struct{ Secret string }
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "flood", "scopes": []string{"push"}, "rate_limit": 1000000}, &key); st != 201 {
		t.Fatalf("key: %d", st)
	}
	var seq atomic.Int64
	// sends runs n sends per sender (senders in parallel) and returns the latencies.
	sends := func(n int) []time.Duration {
		var mu sync.Mutex
		var lats []time.Duration
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				for range n {
					id := "m" + strconv.FormatInt(seq.Add(1), 10)
					start := time.Now()
					if _, _, err := rest.Send(ctx, tok, peer, id, "text", json.RawMessage(`{"text":"isolation"}`)); err != nil {
						t.Errorf("send: %v", err)
						return
					}
					d := time.Since(start)
					mu.Lock()
					lats = append(lats, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lats
	}
	p := func(lats []time.Duration, q float64) time.Duration {
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		return lats[min(len(lats)-1, int(q*float64(len(lats))))]
	}
	const perSender = 100
	sends(10) // warm up connections and caches
	base1 := sends(perSender)

	hang.Store(true)
	stop := make(chan struct{})
	var pushes, shed, other atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	body, _ := json.Marshal(map[string]any{"user_ids": []int64{peer}, "payload": map[string]any{"t": "flood"}})
	var flood sync.WaitGroup
	for range 64 {
		flood.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, _ := http.NewRequest("POST", base+"/v1/push", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-API-Key", key.Secret)
				res, err := hc.Do(r)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch res.StatusCode {
				case http.StatusAccepted:
					pushes.Add(1)
				case http.StatusServiceUnavailable:
					shed.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // the flood and the hanging deliveries take hold
	start := time.Now()
	loaded := sends(perSender)
	elapsed := time.Since(start)
	close(stop)
	flood.Wait()
	hookBusy := a.pools.Pool(bulkhead.Webhook).Busy()

	p99a, p99b := p(base1, 0.99), p(loaded, 0.99)
	msg := fmt.Sprintf("send p50/p99 unloaded %v/%v, under push flood + hanging webhook %v/%v: p99 ratio %.2f (target <= 1.5); "+
		"during the flood (loaded sends took %v): %d pushes accepted, %d shed with 503, %d other; webhook workers hanging: %d",
		p(base1, 0.5), p99a, p(loaded, 0.5), p99b, float64(p99b)/float64(p99a),
		elapsed.Round(time.Millisecond), pushes.Load(), shed.Load(), other.Load(), hookBusy)
	t.Log(msg)
	fmt.Println(msg)
}
