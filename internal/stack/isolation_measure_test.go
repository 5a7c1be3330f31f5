package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push/client"
)

// TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook is an opt-in
// measurement (TETHER_ISOLATION_MEASURE=1; run it under the heavy lock):
// one API on MariaDB and Redis with the default bulkheads and the webhook
// on, and 4 senders sending 1:1 messages to an offline user back to back.
//
// It alternates two kinds of window, isolationRounds of each: unloaded (the
// webhook receiver answers at once, nothing else runs) and loaded (64
// connections flood the push API from ANOTHER PROCESS, far more than its
// workers and queue, and the webhook receiver hangs every request until
// the window ends, so every webhook worker hangs). The flood runs in its own
// process, as an attacker would from another machine, so that the
// measurement is of the server, not of a load generator competing in the
// same Go runtime; and the windows alternate so that the load other
// programs put on the machine weighs on both sides alike. It prints the
// send p50/p99 of each kind, their p99 ratio (the target is at most
// 1.5), what the flood got and the CPU each process used.
func TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook(t *testing.T) {
	if os.Getenv("TETHER_ISOLATION_MEASURE") == "" {
		t.Skip("set TETHER_ISOLATION_MEASURE=1 to measure")
	}
	var hang atomic.Bool
	var relMu sync.Mutex
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			relMu.Lock()
			ch := release
			relMu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	// unhang releases every hanging delivery and answers the next at once.
	unhang := func() {
		hang.Store(false)
		relMu.Lock()
		close(release)
		release = make(chan struct{})
		relMu.Unlock()
	}
	defer unhang()
	spec := bulkhead.DefaultSpec
	if v := os.Getenv("TETHER_ISOLATION_BULKHEADS"); v != "" {
		spec = v // to compare sizes; the number is with the defaults
	}
	a := startAPIWithBulkheads(t, spec, func(c *config.APIConfig) {
		c.Webhook.URL, c.Webhook.Secret, c.Webhook.Timeout = hook.URL, "measure-secret", 5*time.Minute
		c.Throttle.SendRate, c.PushAPI.RateLimit = 0, 0
	})
	base := "http://" + a.HTTPAddr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rest := client.NewAPI(base, nil)
	const senders = 4
	tokens := make([]string, senders)
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
	peer := u.ID
	var key struct{ Secret string }
	if st := keyCall(t, base, stackAdminKey, "POST", "/v1/admin/api-keys", map[string]any{"name": "flood", "scopes": []string{"push"}, "rate_limit": 1000000}, &key); st != 201 {
		t.Fatalf("key: %d", st)
	}
	body, _ := json.Marshal(map[string]any{"user_ids": []int64{peer}, "payload": map[string]any{"t": "flood"}})
	flood := startFlooder(t, base, key.Secret, string(body))

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
	sends(10) // warm up connections and caches

	const perSender = 25
	var unloaded, loaded []time.Duration
	var cpuUnloaded, cpuLoaded, wallUnloaded, wallLoaded time.Duration
	var last floodReport
	hookBusy := 0
	for range isolationRounds {
		c0, w0 := processCPU(), time.Now()
		unloaded = append(unloaded, sends(perSender)...)
		cpuUnloaded += processCPU() - c0
		wallUnloaded += time.Since(w0)

		hang.Store(true)
		flood.command("on")
		time.Sleep(time.Second) // the flood and the hanging deliveries take hold
		c0, w0 = processCPU(), time.Now()
		loaded = append(loaded, sends(perSender)...)
		cpuLoaded += processCPU() - c0
		wallLoaded += time.Since(w0)
		hookBusy = max(hookBusy, a.pools.Pool(bulkhead.Webhook).Busy())
		last = flood.command("off")
		unhang()
		time.Sleep(200 * time.Millisecond) // the released deliveries finish
	}
	total := flood.stop()

	p := func(lats []time.Duration, q float64) time.Duration {
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		return lats[min(len(lats)-1, int(q*float64(len(lats))))]
	}
	p99a, p99b := p(unloaded, 0.99), p(loaded, 0.99)
	share := func(cpu, wall time.Duration) string {
		return fmt.Sprintf("%.2f cores", cpu.Seconds()/wall.Seconds())
	}
	msg := fmt.Sprintf("bulkheads %s\nsend p50/p99 over %d rounds (%d sends each side): unloaded %v/%v, under push flood + hanging webhook %v/%v: p99 ratio %.2f (target <= 1.5)\n"+
		"flood (another process, 64 connections): %d pushes accepted, %d shed with 503 overloaded, %d other (%.0f requests/s while on); webhook workers hanging: %d\n"+
		"CPU: server process (API + senders + webhook receiver) %s unloaded, %s loaded; flood process %s while flooding (%v in all)",
		spec, isolationRounds, len(unloaded), p(unloaded, 0.5).Round(time.Microsecond), p99a.Round(time.Microsecond),
		p(loaded, 0.5).Round(time.Microsecond), p99b.Round(time.Microsecond), float64(p99b)/float64(p99a),
		last.Accepted, last.Shed, last.Other, float64(last.Accepted+last.Shed+last.Other)/last.On.Seconds(), hookBusy,
		share(cpuUnloaded, wallUnloaded), share(cpuLoaded, wallLoaded), share(last.CPU, last.On), total.Round(time.Millisecond))
	t.Log(msg)
	fmt.Println(msg)
}

// isolationRounds is how many unloaded and loaded windows alternate.
const isolationRounds = 6

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floodReport is what the flood process has done so far.
type floodReport struct {
	Accepted, Shed, Other int64
	On                    time.Duration // time spent flooding
	CPU                   time.Duration // the flood process's CPU time
}

// flooder drives the flood process: a copy of this test binary running
// TestBulkheads_FloodProcess, told "on" and "off" on its stdin.
type flooder struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startFlooder(t *testing.T, base, key, body string) *flooder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBulkheads_FloodProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TETHER_FLOOD_URL="+base+"/v1/push", "TETHER_FLOOD_KEY="+key, "TETHER_FLOOD_BODY="+body)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &flooder{t: t, cmd: cmd, in: in, lines: bufio.NewScanner(out)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	f.read() // ready
	return f
}

// command sends "on" or "off" and returns the process's report after it.
func (f *flooder) command(c string) floodReport {
	f.t.Helper()
	if _, err := fmt.Fprintln(f.in, c); err != nil {
		f.t.Fatal(err)
	}
	return f.read()
}

func (f *flooder) read() floodReport {
	f.t.Helper()
	for f.lines.Scan() {
		line, ok := strings.CutPrefix(f.lines.Text(), "flood: ")
		if !ok {
			continue
		}
		var r floodReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			f.t.Fatal(err)
		}
		return r
	}
	f.t.Fatalf("the flood process ended: %v", f.lines.Err())
	return floodReport{}
}

// stop ends the flood process and returns the CPU time it used in all.
func (f *flooder) stop() time.Duration {
	_ = f.in.Close()
	for f.lines.Scan() {
	}
	_ = f.cmd.Wait()
	if f.cmd.ProcessState == nil {
		return 0
	}
	return f.cmd.ProcessState.UserTime() + f.cmd.ProcessState.SystemTime()
}

// TestBulkheads_FloodProcess is the flood process of the measurement above,
// not a test: it runs only when started by it (TETHER_FLOOD_URL). "on" on
// stdin starts 64 connections posting to the push API back to back, "off"
// stops them; after each command it prints a report line.
func TestBulkheads_FloodProcess(t *testing.T) {
	url := os.Getenv("TETHER_FLOOD_URL")
	if url == "" {
		t.Skip("the flood process of TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook")
	}
	key, body := os.Getenv("TETHER_FLOOD_KEY"), []byte(os.Getenv("TETHER_FLOOD_BODY"))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	var rep floodReport
	var accepted, shed, other atomic.Int64
	report := func() {
		rep.Accepted, rep.Shed, rep.Other, rep.CPU = accepted.Load(), shed.Load(), other.Load(), processCPU()
		b, _ := json.Marshal(rep)
		fmt.Printf("flood: %s\n", b)
	}
	report()
	var stop chan struct{}
	var wg sync.WaitGroup
	var since time.Time
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "on":
			stop, since = make(chan struct{}), time.Now()
			for range 64 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						r, _ := http.NewRequest("POST", url, bytes.NewReader(body))
						r.Header.Set("Content-Type", "application/json")
						r.Header.Set("X-API-Key", key)
						res, err := hc.Do(r)
						if err != nil {
							other.Add(1)
							continue
						}
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
						switch res.StatusCode {
						case http.StatusAccepted:
							accepted.Add(1)
						case http.StatusServiceUnavailable:
							shed.Add(1)
						default:
							other.Add(1)
						}
					}
				})
			}
		case "off":
			close(stop)
			wg.Wait()
			rep.On += time.Since(since)
		}
		report()
	}
}
