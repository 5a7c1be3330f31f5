package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/token"
)

// Worker roles of the push scenario (tether bench-worker --role).
const (
	rolePushSend = "push-send"
	rolePushRecv = "push-recv"
)

// PushBenchConfig configures RunPushBench: Users receivers are online on
// one push/client connection each, spread over Receivers processes, and
// Senders processes POST transient pushes of the third-party push API
// (X-API-Key), one user per push, at each rate of Rates for Step: first one
// push per request (POST /v1/push), then Batch pushes per request (POST
// /v1/push/batch) at each rate of BatchRates. Each mode stops at the first
// step it cannot sustain.
type PushBenchConfig struct {
	Stack       Stack
	Worker      WorkerArgs
	APIKey      string        // push-scope key of a running API (a started one gets a fresh key)
	Users       int           // receivers online (default 2000)
	Rates       []int         // pushes per second of the single steps (default 1000, 2500, 5000, 10000, 15000, 20000)
	BatchRates  []int         // pushes per second of the batched steps (default 5000, 10000, 20000, 40000, 60000)
	Batch       int           // pushes per batched request (default 100)
	Step        time.Duration // length of each step (default 5s)
	Grace       time.Duration // how long after a step its pushes may still arrive (default 3s)
	Senders     int           // sender processes (default 2)
	Receivers   int           // receiver processes (default 2)
	Concurrency int           // requests in flight per sender process (default 64)
	MaxP99      time.Duration // a step whose end-to-end p99 is above this is not sustained (default 500ms)
	Timeout     time.Duration // bound of the whole run (default 10m)
	Stderr      io.Writer
	// Profile, if set, is a path prefix: a CPU profile of the API taken
	// during each step is written to <Profile>-<mode>-<rate>.pprof.
	Profile string
	// PushProfile is the same for the push node.
	PushProfile string
}

// PushStep is one step's figures.
type PushStep struct {
	Mode         string      `json:"mode"`     // "single" or "batch"
	Rate         int         `json:"rate"`     // pushes per second asked for
	Seconds      float64     `json:"seconds"`  // from the step's start to the last answer (at least the step)
	Requests     int64       `json:"requests"` // HTTP requests answered 202
	Accepted     int64       `json:"accepted"` // pushes accepted (202, or 202 in the batch's results)
	Failed       int64       `json:"failed"`   // pushes refused or whose request failed
	FirstError   string      `json:"first_error,omitempty"`
	AchievedRate float64     `json:"accepted_per_second"`
	Untargeted   int64       `json:"untargeted"` // accepted with targeted 0: the user's session was not routed
	Delivered    int64       `json:"delivered"`  // distinct accepted pushes the receivers got within the grace period
	Lost         int64       `json:"lost"`       // accepted and targeted, not received within the grace period
	Duplicates   int64       `json:"duplicates"` // pushes received twice
	Unaccepted   int64       `json:"delivered_unaccepted"`
	Accept       Latency     `json:"accept"`     // HTTP round trip of a request
	EndToEnd     Latency     `json:"end_to_end"` // send timestamp in the payload -> OnPush on the receiver
	API          ProcFigures `json:"api"`
	Push         ProcFigures `json:"push"`
	// APIWait and PushWait are the seconds the process's threads were
	// runnable but waiting for a CPU, per second of the step (from
	// /proc/<pid>/task/*/schedstat): on a shared machine, how much of the
	// latency is the machine rather than the process.
	APIWait      float64     `json:"api_runqueue_wait_per_second"`
	PushWait     float64     `json:"push_runqueue_wait_per_second"`
	SendersCPU   ProcFigures `json:"senders"`   // the sender processes together
	ReceiversCPU ProcFigures `json:"receivers"` // the receiver processes together
	Sustained    bool        `json:"sustained"`
	Why          string      `json:"why,omitempty"` // why not sustained
}

// PushBenchResult is what RunPushBench measured.
type PushBenchResult struct {
	Users           int        `json:"users"`
	Senders         int        `json:"sender_processes"`
	Receivers       int        `json:"receiver_processes"`
	Concurrency     int        `json:"concurrency"` // per sender process
	Batch           int        `json:"batch"`
	SetupSecs       float64    `json:"setup_seconds"`
	Single          []PushStep `json:"single"`
	Batched         []PushStep `json:"batched"`
	SustainedSingle int        `json:"sustained_single"` // highest single step sustained (every one before it too)
	SustainedBatch  int        `json:"sustained_batch"`
	LoadStart       [3]float64 `json:"loadavg_start"`
	LoadEnd         [3]float64 `json:"loadavg_end"`
}

// pushTargetRate is the rate the issue bounds the end-to-end p99 at.
const pushTargetRate = 10000

// pushBenchUsers is the receivers of a full-size run.
const pushBenchUsers = 2000

func (c *PushBenchConfig) defaults() error {
	if c.Users <= 0 {
		c.Users = pushBenchUsers
	}
	if c.Users > 50000 {
		return fmt.Errorf("loadgen: at most 50000 push receivers, got %d", c.Users)
	}
	if len(c.Rates) == 0 {
		c.Rates = []int{1000, 2500, 5000, 10000, 15000, 20000}
	}
	if len(c.BatchRates) == 0 {
		c.BatchRates = []int{5000, 10000, 20000, 40000, 60000}
	}
	for _, r := range append(append([]int(nil), c.Rates...), c.BatchRates...) {
		if r <= 0 || r > 1000000 {
			return fmt.Errorf("loadgen: rates must be 1..1000000 pushes/s, got %d", r)
		}
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Batch > 500 {
		return fmt.Errorf("loadgen: at most 500 pushes per batch (the API's limit), got %d", c.Batch)
	}
	if c.Step <= 0 {
		c.Step = 5 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 3 * time.Second
	}
	if c.Senders <= 0 {
		c.Senders = 2
	}
	if c.Receivers <= 0 {
		c.Receivers = 2
	}
	c.Receivers = min(c.Receivers, c.Users)
	if (c.Users+c.Receivers-1)/c.Receivers > MaxPerWorker {
		return fmt.Errorf("loadgen: %d receivers over %d processes is over %d per worker process", c.Users, c.Receivers, MaxPerWorker)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.MaxP99 <= 0 {
		c.MaxP99 = 500 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.Worker.Exe == "" {
		return errors.New("loadgen: the worker executable is required")
	}
	if c.Stack.APIURL != "" && (c.APIKey == "" || c.Stack.KeyFile == "" || c.Stack.MySQLDSN == "") {
		return errors.New("loadgen: a running cluster needs --push-api-key (push scope), --token-key-file and --mysql (the receivers are inserted and their tokens minted)")
	}
	return nil
}

type pushSendConfig struct {
	APIBase     string  `json:"api_base"`
	APIKey      string  `json:"api_key"`
	UserIDs     []int64 `json:"user_ids"`
	Senders     int     `json:"senders"` // processes, to spread the users
	Concurrency int     `json:"concurrency"`
}

type pushRecvConfig struct {
	APIBase  string      `json:"api_base"`
	PushAddr string      `json:"push_addr"`
	Key      string      `json:"key"` // token private key: the receivers' access tokens are minted
	Password string      `json:"password"`
	Users    []benchUser `json:"users"`
}

// pushSendCmd is the body of a "push" command: a sender process's share of a step.
type pushSendCmd struct {
	Rate    float64 `json:"rate"` // pushes per second, this process
	Seconds float64 `json:"seconds"`
	StartNS int64   `json:"start_ns"`
	Batch   int     `json:"batch"` // 0: one push per request to /v1/push
}

// pushSendReport is a sender process's figures for a step.
type pushSendReport struct {
	Accepted   []int64 `json:"accepted"` // ids of pushes accepted with targeted > 0
	Untargeted int64   `json:"untargeted"`
	Requests   int64   `json:"requests"`
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
	LastNS     int64   `json:"last_ns"`
	Accept     Hist    `json:"accept"`
}

// pushRecvFinal is a receiver process's figures for a step.
type pushRecvFinal struct {
	IDs        []int64 `json:"ids"`
	Duplicates int64   `json:"duplicates"`
	Latency    Hist    `json:"latency"`
}

// pushPayload is the payload of a bench push: its id (unique in the run),
// step and send time.
type pushPayload struct {
	Bench  int   `json:"bench"`
	Step   int   `json:"step"`
	ID     int64 `json:"id"`
	SentNS int64 `json:"sent_ns"`
}

// RunPushBench runs the push scenario.
func RunPushBench(ctx context.Context, cfg PushBenchConfig) (res PushBenchResult, err error) {
	if err := cfg.defaults(); err != nil {
		return PushBenchResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res = PushBenchResult{Users: cfg.Users, Senders: cfg.Senders, Receivers: cfg.Receivers, Concurrency: cfg.Concurrency, Batch: cfg.Batch}
	setup := time.Now()
	adminKey := ""
	if cfg.Stack.APIURL == "" {
		// The bench's own API: a bootstrap admin key to create the push
		// key with, and no default rate limit in the way.
		adminKey = randHex(24)
		cfg.Stack.Env = append(append([]string(nil), cfg.Stack.Env...), "TETHER_ADMIN_KEY="+adminKey, "TETHER_PUSH_RATE_LIMIT=0")
	}
	st, err := startStack(ctx, cfg.Stack)
	if err != nil {
		return res, err
	}
	defer st.close()
	if st.key == nil || st.dsn == "" {
		return res, errors.New("loadgen: the push bench needs the cluster's token key and database")
	}
	users, _, err := createStormUsers(ctx, st, "p"+randHex(3), cfg.Users, 0)
	if err != nil {
		return res, err
	}
	if adminKey != "" {
		if cfg.APIKey, err = createPushKey(ctx, st.apiURL, adminKey); err != nil {
			return res, err
		}
	}
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	var recvCfgs, sendCfgs []any
	for _, sh := range split(0, 0, cfg.Users, cfg.Receivers) {
		recvCfgs = append(recvCfgs, pushRecvConfig{APIBase: st.apiURL, PushAddr: st.pushAddr, Key: token.EncodePrivate(st.key),
			Password: benchPassword, Users: users[sh.first : sh.first+int64(sh.count)]})
	}
	for range cfg.Senders {
		sendCfgs = append(sendCfgs, pushSendConfig{APIBase: st.apiURL, APIKey: cfg.APIKey, UserIDs: ids, Senders: cfg.Senders, Concurrency: cfg.Concurrency})
	}
	recv, err := startCrew(cfg.Worker, rolePushRecv, recvCfgs, cfg.Stderr)
	if err != nil {
		return res, err
	}
	defer recv.stop()
	send, err := startCrew(cfg.Worker, rolePushSend, sendCfgs, cfg.Stderr)
	if err != nil {
		return res, err
	}
	defer send.stop()
	if _, err := recv.gather(ctx, "ready", 0); err != nil {
		return res, err
	}
	if _, err := send.gather(ctx, "ready", 0); err != nil {
		return res, err
	}
	res.SetupSecs = time.Since(setup).Seconds()
	res.LoadStart = LoadAvg()
	defer func() { res.LoadEnd = LoadAvg() }()

	step := 0
	for _, mode := range []string{"single", "batch"} {
		rates, batch := cfg.Rates, 0
		if mode == "batch" {
			rates, batch = cfg.BatchRates, cfg.Batch
		}
		for _, rate := range rates {
			step++
			s, err := runPushStep(ctx, cfg, st, send, recv, step, mode, rate, batch)
			if err != nil {
				return res, err
			}
			fmt.Fprintf(cfg.Stderr, "push %s step %d/s: %.0f/s accepted, accept p99 %.1f ms, e2e p50 %.1f ms p99 %.1f ms, lost %d, sustained %v %s\n",
				mode, rate, s.AchievedRate, s.Accept.P99, s.EndToEnd.P50, s.EndToEnd.P99, s.Lost, s.Sustained, s.Why)
			if mode == "single" {
				res.Single = append(res.Single, s)
			} else {
				res.Batched = append(res.Batched, s)
			}
			if !s.Sustained {
				break
			}
			if mode == "single" {
				res.SustainedSingle = rate
			} else {
				res.SustainedBatch = rate
			}
		}
	}
	if err := st.api.alive(); err != nil {
		return res, err
	}
	return res, st.push.alive()
}

// createPushKey creates a push-scope API key with the highest rate limit
// the API takes, using the bootstrap admin key.
func createPushKey(ctx context.Context, apiBase, adminKey string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": "bench-push", "scopes": []string{"push"}, "rate_limit": 1000000})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, apiBase+"/v1/admin/api-keys", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("loadgen: create push key: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var k struct {
		Secret string `json:"secret"`
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK || json.Unmarshal(out, &k) != nil || k.Secret == "" {
		return "", fmt.Errorf("loadgen: create push key: %s: %s", resp.Status, out)
	}
	return k.Secret, nil
}

// runPushStep sends one step's pushes, waits for their delivery and measures.
func runPushStep(ctx context.Context, cfg PushBenchConfig, st *apiStack, send, recv *crew, step int, mode string, rate, batch int) (PushStep, error) {
	s := PushStep{Mode: mode, Rate: rate}
	api0, push0, send0, recv0 := sampleProc(st.api.pid), sampleProc(st.push.pid), send.sample(), recv.sample()
	apiWait0, pushWait0 := runqueueWait(st.api.pid), runqueueWait(st.push.pid)
	start := time.Now().Add(100 * time.Millisecond)
	profiled := make(chan error, 2)
	for _, p := range []struct {
		prefix string
		c      *child
	}{{cfg.Profile, st.api}, {cfg.PushProfile, st.push}} {
		if p.prefix != "" && p.c.adminAddr != "" {
			secs := max(1, int(cfg.Step.Seconds())-1)
			go func() {
				profiled <- fetchProfile(ctx, p.c.adminAddr, secs, fmt.Sprintf("%s-%s-%d.pprof", p.prefix, mode, rate))
			}()
		} else {
			profiled <- nil
		}
	}
	body, _ := json.Marshal(pushSendCmd{Rate: float64(rate) / float64(send.size()), Seconds: cfg.Step.Seconds(), StartNS: start.UnixNano(), Batch: batch})
	if err := send.send(Command{Cmd: "push", Step: step, Body: body}); err != nil {
		return s, err
	}
	reps, err := send.gather(ctx, "pushed", step)
	if err != nil {
		return s, err
	}
	if err := errors.Join(<-profiled, <-profiled); err != nil {
		return s, err
	}
	accepted := map[int64]bool{}
	var acceptH Hist
	var last int64
	for _, raw := range reps {
		var r pushSendReport
		if err := json.Unmarshal(raw, &r); err != nil {
			return s, err
		}
		for _, id := range r.Accepted {
			accepted[id] = true
		}
		s.Untargeted += r.Untargeted
		s.Requests += r.Requests
		s.Failed += r.Failed
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
		last = max(last, r.LastNS)
		acceptH.Merge(r.Accept)
	}
	s.Accepted = int64(len(accepted)) + s.Untargeted
	s.Accept = acceptH.Summary()
	s.Seconds = max(time.Unix(0, last).Sub(start).Seconds(), cfg.Step.Seconds())
	s.AchievedRate = math.Round(float64(s.Accepted) / s.Seconds)

	// Wait until the receivers have every targeted push, or the grace
	// period ends.
	deadline := time.Now().Add(cfg.Grace)
	for {
		if err := recv.send(Command{Cmd: "count", Step: step}); err != nil {
			return s, err
		}
		counts, err := recv.gather(ctx, "count", step)
		if err != nil {
			return s, err
		}
		var got int64
		for _, raw := range counts {
			n, _ := strconv.ParseInt(string(raw), 10, 64)
			got += n
		}
		if got >= int64(len(accepted)) || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return s, err
		}
	}
	s.API, s.Push = procDelta(api0, sampleProc(st.api.pid)), procDelta(push0, sampleProc(st.push.pid))
	if d := time.Since(api0.at).Seconds(); d > 0 {
		s.APIWait = round3((runqueueWait(st.api.pid) - apiWait0).Seconds() / d)
		s.PushWait = round3((runqueueWait(st.push.pid) - pushWait0).Seconds() / d)
	}
	s.SendersCPU, s.ReceiversCPU = procDelta(send0, send.sample()), procDelta(recv0, recv.sample())
	if err := recv.send(Command{Cmd: "final", Step: step}); err != nil {
		return s, err
	}
	finals, err := recv.gather(ctx, "final", step)
	if err != nil {
		return s, err
	}
	var e2e Hist
	for _, raw := range finals {
		var f pushRecvFinal
		if err := json.Unmarshal(raw, &f); err != nil {
			return s, err
		}
		for _, id := range f.IDs {
			if accepted[id] {
				s.Delivered++
			} else {
				s.Unaccepted++
			}
		}
		s.Duplicates += f.Duplicates
		e2e.Merge(f.Latency)
	}
	s.Lost = int64(len(accepted)) - s.Delivered
	s.EndToEnd = e2e.Summary()
	switch {
	case s.Accepted == 0:
		s.Why = fmt.Sprintf("no push accepted (first error: %s)", s.FirstError)
	case s.Lost > 0:
		s.Why = fmt.Sprintf("%d accepted pushes not received within %s", s.Lost, cfg.Grace)
	case s.Untargeted > 0:
		s.Why = fmt.Sprintf("%d accepted pushes were routed to no session, though every receiver is online", s.Untargeted)
	case s.AchievedRate < 0.9*float64(rate):
		s.Why = fmt.Sprintf("accepted %.0f/s, under 90%% of %d/s", s.AchievedRate, rate)
	case s.Failed > s.Accepted/1000:
		s.Why = fmt.Sprintf("%d pushes failed (first: %s)", s.Failed, s.FirstError)
	case s.EndToEnd.P99 > float64(cfg.MaxP99)/float64(time.Millisecond):
		s.Why = fmt.Sprintf("end-to-end p99 %.0f ms over %s", s.EndToEnd.P99, cfg.MaxP99)
	default:
		s.Sustained = true
	}
	return s, nil
}

// runqueueWait is the time the threads of pid have spent runnable but not
// running (the second field of each thread's schedstat), or 0 when it
// cannot be read. Threads that exited are not counted.
func runqueueWait(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := bytes.Fields(b); len(f) >= 2 {
			ns, _ := strconv.ParseInt(string(f[1]), 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// runPushSender answers "push" commands: it POSTs the step's pushes at the
// asked rate from Concurrency goroutines over keep-alive connections.
func runPushSender(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg pushSendConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if len(cfg.UserIDs) == 0 || cfg.Concurrency <= 0 || cfg.APIKey == "" || cfg.Senders <= 0 {
		return errors.New("loadgen: push sender needs users, a concurrency, the sender count and an API key")
	}
	hc := benchHTTPClient(cfg.Concurrency)
	if err := w.emit("ready", 0, nil); err != nil {
		return err
	}
	for {
		c, ok := w.nextCmd(ctx)
		if !ok {
			return nil
		}
		if c.Cmd != "push" {
			continue
		}
		var pc pushSendCmd
		if err := json.Unmarshal(c.Body, &pc); err != nil {
			return err
		}
		if pc.Rate <= 0 || pc.Seconds <= 0 || pc.Batch < 0 {
			return fmt.Errorf("loadgen: push sender: bad command %s", c.Body)
		}
		r := pushStep(ctx, hc, cfg, w.ID, c.Step, pc)
		if err := w.emit("pushed", c.Step, r); err != nil {
			return err
		}
	}
}

// pushStep sends one step's share of this process. Request k is due at
// start + k*per/rate; a request that is late goes at once, so a step the
// API cannot keep up with shows as a lower achieved rate.
func pushStep(ctx context.Context, hc *http.Client, cfg pushSendConfig, id, step int, pc pushSendCmd) pushSendReport {
	per, url := 1, cfg.APIBase+"/v1/push"
	if pc.Batch > 0 {
		per, url = pc.Batch, cfg.APIBase+"/v1/push/batch"
	}
	start := time.Unix(0, pc.StartNS)
	pushes := int64(pc.Rate * pc.Seconds)
	total := (pushes + int64(per) - 1) / int64(per)
	period := float64(time.Second) * float64(per) / pc.Rate
	var next atomic.Int64
	var mu sync.Mutex
	var r pushSendReport
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine pushSendReport
			var buf []byte
			pids := make([]int64, per)
			for {
				k := next.Add(1) - 1
				if k >= total || ctx.Err() != nil {
					break
				}
				due := start.Add(time.Duration(float64(k) * period))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				n := min(int64(per), pushes-k*int64(per))
				t0 := time.Now()
				buf = buf[:0]
				if pc.Batch > 0 {
					buf = append(buf, `{"pushes":[`...)
				}
				for j := range n {
					seq := k*int64(per) + j
					// Unique in the run: the worker in the top bits, the
					// step and the push's number in it below.
					pid := int64(id)<<48 | int64(step)<<32 | seq
					pids[j] = pid
					user := cfg.UserIDs[int((seq*int64(cfg.Senders)+int64(id))%int64(len(cfg.UserIDs)))]
					if j > 0 {
						buf = append(buf, ',')
					}
					buf = appendPushRequest(buf, user, pushPayload{Bench: 1, Step: step, ID: pid, SentNS: t0.UnixNano()})
				}
				if pc.Batch > 0 {
					buf = append(buf, "]}"...)
				}
				targeted, err := postPush(ctx, hc, url, cfg.APIKey, buf, pc.Batch > 0, int(n))
				t1 := time.Now()
				mine.LastNS = t1.UnixNano()
				if err != nil {
					mine.Failed += n
					if mine.FirstError == "" {
						mine.FirstError = err.Error()
					}
					continue
				}
				mine.Requests++
				mine.Accept.Add(t1.Sub(t0))
				for j, t := range targeted {
					switch {
					case t < 0:
						mine.Failed++
					case t == 0:
						mine.Untargeted++
					default:
						mine.Accepted = append(mine.Accepted, pids[j])
					}
				}
			}
			mu.Lock()
			r.Accepted = append(r.Accepted, mine.Accepted...)
			r.Untargeted += mine.Untargeted
			r.Requests += mine.Requests
			r.Failed += mine.Failed
			if r.FirstError == "" {
				r.FirstError = mine.FirstError
			}
			r.LastNS = max(r.LastNS, mine.LastNS)
			r.Accept.Merge(mine.Accept)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return r
}

// appendPushRequest appends one transient push request to user.
func appendPushRequest(b []byte, user int64, p pushPayload) []byte {
	b = append(b, `{"user_ids":[`...)
	b = strconv.AppendInt(b, user, 10)
	b = append(b, `],"ttl_seconds":60,"payload":`...)
	pb, _ := json.Marshal(p)
	b = append(b, pb...)
	return append(b, '}')
}

// postPush POSTs one request and returns each push's targeted count, or
// -1 for a push the batch refused.
func postPush(ctx context.Context, hc *http.Client, url, key string, body []byte, batch bool, n int) ([]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted && !(batch && resp.StatusCode == http.StatusOK) && !(batch && resp.StatusCode == http.StatusMultiStatus) {
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(out))
	}
	if !batch {
		var r tether.PushResult
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, fmt.Errorf("answer: %w", err)
		}
		return []int{r.Targeted}, nil
	}
	var br struct {
		Results []struct {
			Status   int    `json:"status"`
			Targeted int    `json:"targeted"`
			Detail   string `json:"detail"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &br); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if len(br.Results) != n {
		return nil, fmt.Errorf("batch of %d answered %d results", n, len(br.Results))
	}
	ts := make([]int, n)
	for i, it := range br.Results {
		ts[i] = it.Targeted
		if it.Status != http.StatusAccepted {
			ts[i] = -1
		}
	}
	return ts, nil
}

// pushLog is what a receiver process recorded of one step.
type pushLog struct {
	seen       map[int64]bool
	ids        []int64
	duplicates int64
	latency    Hist
}

// runPushReceiver keeps one push/client per user connected (tokens minted
// with the cluster's key) and records every bench push by step.
func runPushReceiver(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg pushRecvConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	key, err := token.ParsePrivate(cfg.Key)
	if err != nil {
		return err
	}
	if len(cfg.Users) == 0 {
		return errors.New("loadgen: push receiver needs users")
	}
	signer := token.NewSigner(key, 2*time.Hour)
	var mu sync.Mutex
	steps := map[int]*pushLog{}
	hc := benchHTTPClient(64)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	clients := make([]*client.Client, len(cfg.Users))
	for i, u := range cfg.Users {
		dev := "bench-" + strconv.FormatInt(u.ID, 10)
		tok, exp, err := signer.Sign(token.Claims{UserID: u.ID, DeviceID: dev, Platform: "desktop", SessionID: dev})
		if err != nil {
			return err
		}
		clients[i] = client.New(client.Config{
			APIBase: cfg.APIBase, PushAddr: cfg.PushAddr,
			Tokens:   &tether.Tokens{AccessToken: tok, TokenType: "Bearer", ExpiresAt: exp, UserID: u.ID, SessionID: dev},
			Username: u.Name, Password: cfg.Password,
			DeviceID: dev, Platform: "desktop", AppVersion: "bench",
			HTTPClient: hc, Logger: logger,
			OnPush: func(p client.Push) {
				now := time.Now()
				var pl pushPayload
				if json.Unmarshal(p.Body, &pl) != nil || pl.Bench != 1 || pl.Step == 0 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				sl := steps[pl.Step]
				if sl == nil {
					sl = &pushLog{seen: map[int64]bool{}}
					steps[pl.Step] = sl
				}
				if sl.seen[pl.ID] {
					sl.duplicates++
					return
				}
				sl.seen[pl.ID] = true
				sl.ids = append(sl.ids, pl.ID)
				sl.latency.Add(now.Sub(time.Unix(0, pl.SentNS)))
			},
		})
	}
	runErr := make(chan error, len(clients))
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	startClients(ctx, clients, &wg, runErr)
	if up, err := allConnected(ctx, clients, runErr); !up {
		return err
	}
	if err := w.emit("ready", 0, nil); err != nil {
		return err
	}
	for {
		var c Command
		var ok bool
		select {
		case err := <-runErr:
			return err
		case c, ok = <-w.cmds:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			return nil
		}
		mu.Lock()
		sl := steps[c.Step]
		if sl == nil {
			sl = &pushLog{}
		}
		var body any
		switch c.Cmd {
		case "count":
			body = len(sl.ids)
		case "final":
			body = pushRecvFinal{IDs: sl.ids, Duplicates: sl.duplicates, Latency: sl.latency}
			delete(steps, c.Step) // pushes of the step arriving later are not counted
		}
		mu.Unlock()
		if body != nil {
			if err := w.emit(c.Cmd, c.Step, body); err != nil {
				return err
			}
		}
	}
}

// WritePushBenchTable prints r for people.
func WritePushBenchTable(w io.Writer, r PushBenchResult) error {
	fmt.Fprintf(w, "push: transient pushes of the push API to %d users online (push/client), %d sender processes (%d requests in flight each), %d receiver processes, setup %.1fs, load average %.1f -> %.1f\n",
		r.Users, r.Senders, r.Concurrency, r.Receivers, r.SetupSecs, r.LoadStart[0], r.LoadEnd[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\trate/s\taccepted/s\tfailed\tlost\taccept p50 ms\taccept p99 ms\te2e p50 ms\te2e p99 ms\tAPI CPU%\tpush CPU%\tAPI µs/push\tpush µs/push\tAPI wait%\tpush wait%\tAPI RSS MiB\tpush RSS MiB\tsustained\t")
	for _, s := range append(append([]PushStep(nil), r.Single...), r.Batched...) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%v\t\n",
			s.Mode, s.Rate, s.AchievedRate, s.Failed, s.Lost, s.Accept.P50, s.Accept.P99, s.EndToEnd.P50, s.EndToEnd.P99,
			s.API.CPUPercent, s.Push.CPUPercent, perPush(s.API, s.Accepted), perPush(s.Push, s.Accepted),
			100*s.APIWait, 100*s.PushWait, float64(s.API.RSSBytes)/(1<<20), float64(s.Push.RSSBytes)/(1<<20), s.Sustained)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range append(append([]PushStep(nil), r.Single...), r.Batched...) {
		if !s.Sustained {
			fmt.Fprintf(w, "%s stopped at %d/s: %s\n", s.Mode, s.Rate, s.Why)
		}
	}
	fmt.Fprintln(w, "µs/push: the process's CPU over the step and its grace period, per accepted push")
	fmt.Fprintln(w, "wait%: the process's threads runnable but not running, in % of the step (CPU they were owed and the machine did not give)")
	_, err := fmt.Fprintf(w, "sustained: single %d pushes/s, batched (%d per request) %d pushes/s\n", r.SustainedSingle, r.Batch, r.SustainedBatch)
	return err
}

// perPush is a process's CPU per accepted push, in µs (0 without pushes).
func perPush(f ProcFigures, accepted int64) float64 {
	if accepted <= 0 {
		return 0
	}
	return f.CPUSeconds * 1e6 / float64(accepted)
}

// Targets of the push scenario (issue 5): at least 15,000 single pushes a
// second and 40,000 batched, and an end-to-end p99 of at most 10 ms at
// 10,000 single pushes a second.
func (r PushBenchResult) Targets() []Target {
	p99, ran := Target{Name: "end-to-end p99 at 10,000 pushes/s", Op: "<=", Target: 0.010, Unit: UnitSeconds}, false
	for _, s := range r.Single {
		if s.Rate == pushTargetRate {
			p99, ran = AtMost(p99.Name, 0.010, s.EndToEnd.P99/1000, UnitSeconds), true
		}
	}
	ts := SizeNote([]Target{
		AtLeast("single pushes/s sustained", 15000, float64(r.SustainedSingle), UnitPerSecond),
		AtLeast("batched pushes/s sustained", 40000, float64(r.SustainedBatch), UnitPerSecond),
		p99,
	}, r.Users, pushBenchUsers, "receivers online")
	if !ran {
		// Missed, never met with a value of 0. The last single step run is
		// where the run stopped; its p99 is what the report shows.
		ts[2].Met, ts[2].Note = false, "the 10,000/s single step did not run (--rates lacks it)"
		if n := len(r.Single); n > 0 {
			last := r.Single[n-1]
			ts[2].Value = last.EndToEnd.P99 / 1000
			ts[2].Note = fmt.Sprintf("the 10,000/s single step did not run: the single steps stopped at %d/s, whose p99 this is", last.Rate)
		}
	}
	return ts
}
