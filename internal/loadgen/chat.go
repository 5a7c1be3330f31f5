package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
)

// Worker roles of the persisted scenarios (tether bench-worker --role).
const (
	roleChatSend = "chat-send"
	roleChatRecv = "chat-recv"
	roleStorm    = "storm"
)

// benchPassword is the password of every user a bench registers.
const benchPassword = "bench-password-not-secret"

// ChatConfig configures RunChat: Users senders send 1:1 messages through
// REST (POST /v1/messages) to Users recipients, each online on a push
// connection of push/client, at each rate of Rates for Step, and the run
// stops at the first step it cannot sustain.
type ChatConfig struct {
	Stack       Stack
	Worker      WorkerArgs
	Users       int           // senders, and as many recipients (default 500)
	Rates       []int         // messages per second of each step (default 250, 500, 1000, 2000, 5000, 7500, 10000)
	Step        time.Duration // length of each step (default 10s)
	Grace       time.Duration // how long after a step its messages may still arrive (default 5s)
	Senders     int           // sender worker processes (default 2)
	Receivers   int           // receiver worker processes (default 2)
	Concurrency int           // requests in flight per sender process (default 128)
	MaxP99      time.Duration // a step whose end-to-end p99 is above this is not sustained (default 1s)
	Timeout     time.Duration // bound of the whole run (default 10m)
	Stderr      io.Writer
	// Profile, if set, is a path prefix: a CPU profile of the API taken
	// during each step is written to <Profile>-step<N>.pprof.
	Profile string

	// burst, if set, ends the run with one more step: burst messages to
	// each recipient as fast as the senders can, its frames counted in both
	// directions until a heartbeat interval after the last delivery, so that
	// the acks it causes are in the count (RunFrames).
	burst int
}

// ChatStep is one step's figures.
type ChatStep struct {
	Rate          int         `json:"rate"`     // messages per second asked for
	Seconds       float64     `json:"seconds"`  // from the first send to the last answer
	Accepted      int64       `json:"accepted"` // 201 answers
	Failed        int64       `json:"failed"`   // errors and other statuses
	FirstError    string      `json:"first_error,omitempty"`
	AcceptedRate  float64     `json:"accepted_per_second"`
	Delivered     int64       `json:"delivered"`  // distinct accepted messages the recipients got
	Lost          int64       `json:"lost"`       // accepted, never delivered (not by the end of the run and one more grace period)
	Duplicates    int64       `json:"duplicates"` // deliveries of a message already delivered
	Unaccepted    int64       `json:"delivered_unaccepted"`
	Late          int64       `json:"late"`       // accepted, delivered after the grace period but before the run ended
	EndToEnd      Latency     `json:"end_to_end"` // send timestamp in the content -> Handler on the recipient
	Accept        Latency     `json:"accept"`     // POST /v1/messages round trip
	SQLPerMessage float64     `json:"sql_ms_per_message"`
	RedisPerMsg   float64     `json:"redis_ms_per_message"`
	SQLCalls      float64     `json:"sql_statements_per_message"`
	RedisCalls    float64     `json:"redis_commands_per_message"`
	API           ProcFigures `json:"api"`
	Push          ProcFigures `json:"push"`
	MySQL         ProcFigures `json:"mysql"` // the MySQL server (0 if its process was not found)
	Redis         ProcFigures `json:"redis"`
	CPU           CPUPerMsg   `json:"cpu_ms_per_message"`
	Frames        FrameCount  `json:"frames"`
	Sustained     bool        `json:"sustained"`
	Why           string      `json:"why,omitempty"`   // why not sustained
	Burst         bool        `json:"burst,omitempty"` // the burst step of RunFrames
}

// CPUPerMsg is the CPU time each server process spent per accepted
// message during a step, in milliseconds. MySQL and Redis are shared by
// everything on the machine, so their figures include whatever else used
// them meanwhile.
type CPUPerMsg struct {
	API   float64 `json:"api"`
	MySQL float64 `json:"mysql"`
	Push  float64 `json:"push"`
	Redis float64 `json:"redis"`
	Total float64 `json:"total"`
}

// FrameCount is what the recipients' clients sent to the server during a
// step, by kind, and how many messages they delivered.
type FrameCount struct {
	Delivered      uint64  `json:"delivered"`
	Frames         uint64  `json:"frames"` // client-to-server frames of every kind
	Acks           uint64  `json:"acks"`
	Pings          uint64  `json:"pings"`
	Heartbeats     uint64  `json:"heartbeats"` // protocol version 2: they replace pings, acks and push acks
	Hellos         uint64  `json:"hellos"`
	Received       uint64  `json:"received"`      // server-to-client frames of every kind (messages, pongs, ...)
	SyncRequests   uint64  `json:"sync_requests"` // REST sync pages (not frames)
	PerThousand    float64 `json:"frames_per_1000_delivered"`
	AcksPerThou    float64 `json:"acks_per_1000_delivered"`
	SyncsPerThou   float64 `json:"sync_requests_per_1000_delivered"`
	AckInterval    string  `json:"ack_interval"`
	AckBatch       int     `json:"ack_batch"`
	HeartbeatEvery string  `json:"heartbeat"`
}

// ChatResult is what RunChat measured.
type ChatResult struct {
	Users      int        `json:"users"` // senders; as many recipients
	Senders    int        `json:"sender_processes"`
	Receivers  int        `json:"receiver_processes"`
	SetupSecs  float64    `json:"setup_seconds"` // register, log in, connect
	Steps      []ChatStep `json:"steps"`
	Sustained  int        `json:"sustained_rate"`          // highest step sustained (every step before it too)
	Within50ms int        `json:"sustained_rate_p99_50ms"` // highest sustained step with end-to-end p99 <= 50 ms
	// Within100ms is the highest sustained step with end-to-end p99 <= 100
	// ms, and CPUAt100ms the server CPU per message (ms) at that step (at
	// the first step if none qualifies): the figures of issue 13.
	Within100ms int        `json:"sustained_rate_p99_100ms"`
	CPUAt100ms  float64    `json:"cpu_ms_per_message_p99_100ms"`
	LoadStart   [3]float64 `json:"loadavg_start"` // the machine's load average when the steps began
	LoadEnd     [3]float64 `json:"loadavg_end"`
}

func (c *ChatConfig) defaults() error {
	if c.Users <= 0 {
		c.Users = 500
	}
	if len(c.Rates) == 0 {
		c.Rates = []int{250, 500, 1000, 2000, 5000, 7500, 10000}
	}
	for _, r := range c.Rates {
		if r <= 0 || r > 100000 {
			return fmt.Errorf("loadgen: rates must be 1..100000 messages/s, got %d", r)
		}
	}
	if c.Users > 20000 {
		return fmt.Errorf("loadgen: at most 20000 chat users, got %d", c.Users)
	}
	if c.Step <= 0 {
		c.Step = 10 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.Senders <= 0 {
		c.Senders = 2
	}
	if c.Receivers <= 0 {
		c.Receivers = 2
	}
	c.Senders, c.Receivers = min(c.Senders, c.Users), min(c.Receivers, c.Users)
	if (c.Users+c.Receivers-1)/c.Receivers > MaxPerWorker {
		return fmt.Errorf("loadgen: %d recipients over %d processes is over %d per worker process", c.Users, c.Receivers, MaxPerWorker)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 128
	}
	if c.MaxP99 <= 0 {
		c.MaxP99 = time.Second
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
	return nil
}

// benchUser is a registered user a worker acts for.
type benchUser struct {
	Name string `json:"name"`
	ID   int64  `json:"id"`
	To   int64  `json:"to,omitempty"` // a sender's recipient
}

type chatSendConfig struct {
	APIBase     string      `json:"api_base"`
	Password    string      `json:"password"`
	Users       []benchUser `json:"users"`
	Concurrency int         `json:"concurrency"`
}

type chatRecvConfig struct {
	APIBase  string      `json:"api_base"`
	PushAddr string      `json:"push_addr"`
	Password string      `json:"password"`
	Users    []benchUser `json:"users"`
}

// sendCmd is the body of a "send" command: a sender process's share of a step.
type sendCmd struct {
	Rate    float64 `json:"rate"` // per second, this process
	Seconds float64 `json:"seconds"`
	StartNS int64   `json:"start_ns"`
}

// sendReport is a sender process's figures for a step.
type sendReport struct {
	Accepted   []int64 `json:"accepted"` // message ids
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
	LastNS     int64   `json:"last_ns"` // the last answer
	Accept     Hist    `json:"accept"`
}

// recvCount is a receiver process's running count of a step's deliveries.
type recvCount struct {
	Delivered int64        `json:"delivered"`
	Stats     client.Stats `json:"stats"`
}

// recvFinal is a receiver process's figures for a step.
type recvFinal struct {
	IDs        []int64      `json:"ids"` // distinct message ids delivered
	Duplicates int64        `json:"duplicates"`
	Latency    Hist         `json:"latency"`
	Stats      client.Stats `json:"stats"` // totals since the start
}

// chatContent is the content of a bench message: when it was sent and in
// which step. It is sent as a custom message: text messages carry only
// text and mentions.
type chatContent struct {
	Text   string `json:"text"`
	SentNS int64  `json:"sent_ns"`
	Step   int    `json:"step"`
}

// RunChat runs the chat scenario.
func RunChat(ctx context.Context, cfg ChatConfig) (res ChatResult, err error) {
	if err := cfg.defaults(); err != nil {
		return ChatResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res = ChatResult{Users: cfg.Users, Senders: cfg.Senders, Receivers: cfg.Receivers}
	setup := time.Now()
	st, err := startStack(ctx, cfg.Stack)
	if err != nil {
		return res, err
	}
	defer st.close()

	// Register every user up front, in parallel (argon2 makes each take
	// tens of milliseconds of CPU).
	run := randHex(3)
	names := make([]string, 2*cfg.Users)
	for i := range cfg.Users {
		names[i] = fmt.Sprintf("bc%s-s%d", run, i)
		names[cfg.Users+i] = fmt.Sprintf("bc%s-r%d", run, i)
	}
	ids, err := registerUsers(ctx, st.apiURL, names)
	if err != nil {
		return res, err
	}
	senders, recipients := make([]benchUser, cfg.Users), make([]benchUser, cfg.Users)
	for i := range cfg.Users {
		recipients[i] = benchUser{Name: names[cfg.Users+i], ID: ids[cfg.Users+i]}
		senders[i] = benchUser{Name: names[i], ID: ids[i], To: recipients[i].ID}
	}

	var recvCfgs, sendCfgs []any
	for _, sh := range split(0, 0, cfg.Users, cfg.Receivers) {
		recvCfgs = append(recvCfgs, chatRecvConfig{APIBase: st.apiURL, PushAddr: st.pushAddr, Password: benchPassword,
			Users: recipients[sh.first : sh.first+int64(sh.count)]})
	}
	for _, sh := range split(0, 0, cfg.Users, cfg.Senders) {
		sendCfgs = append(sendCfgs, chatSendConfig{APIBase: st.apiURL, Password: benchPassword, Concurrency: cfg.Concurrency,
			Users: senders[sh.first : sh.first+int64(sh.count)]})
	}
	recv, err := startCrew(cfg.Worker, roleChatRecv, recvCfgs, cfg.Stderr)
	if err != nil {
		return res, err
	}
	defer recv.stop()
	send, err := startCrew(cfg.Worker, roleChatSend, sendCfgs, cfg.Stderr)
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

	// The frames of the steps only: not the handshakes, first syncs and
	// pings of the setup.
	var prevStats client.Stats
	base, err := recvFinals(ctx, recv, 0)
	if err != nil {
		return res, err
	}
	for _, f := range base {
		addStats(&prevStats, f.Stats)
	}
	mysqlPID, redisPID := st.dependencyPIDs()
	overdue := map[int]map[int64]bool{} // steps with messages not delivered in their grace period
	rates := cfg.Rates
	if cfg.burst > 0 {
		rates = append(slices.Clone(rates), cfg.burst*cfg.Users)
	}
	for i, rate := range rates {
		step := i + 1
		burst := cfg.burst > 0 && i == len(rates)-1
		s, stats, accepted, err := runChatStep(ctx, cfg, st, send, recv, step, rate, prevStats, mysqlPID, redisPID, burst)
		if err != nil {
			return res, err
		}
		if step == 1 {
			res.CPUAt100ms = s.CPU.Total
		}
		if s.Lost > 0 {
			overdue[step] = accepted
		}
		prevStats = stats
		res.Steps = append(res.Steps, s)
		fmt.Fprintf(cfg.Stderr, "chat step %d: %d/s asked, %.0f/s accepted, e2e p50 %.1f ms p99 %.1f ms, lost %d, sustained %v %s\n",
			step, rate, s.AcceptedRate, s.EndToEnd.P50, s.EndToEnd.P99, s.Lost, s.Sustained, s.Why)
		if s.Burst {
			break
		}
		if !s.Sustained {
			if cfg.burst > 0 {
				continue // frames: the burst is measured whatever the steady step sustained
			}
			break
		}
		res.Sustained = rate
		if s.EndToEnd.P99 <= 50 {
			res.Within50ms = max(res.Within50ms, rate)
		}
		if s.EndToEnd.P99 <= 100 && rate > res.Within100ms {
			res.Within100ms, res.CPUAt100ms = rate, s.CPU.Total
		}
	}
	// Messages not delivered in their step's grace period may be late
	// rather than lost: look once more after another grace period.
	if len(overdue) > 0 {
		if err := sleepCtx(ctx, cfg.Grace); err != nil {
			return res, err
		}
		for i := range res.Steps {
			s, step := &res.Steps[i], i+1
			accepted := overdue[step]
			if accepted == nil {
				continue
			}
			finals, err := recvFinals(ctx, recv, step)
			if err != nil {
				return res, err
			}
			var delivered int64
			var e2e Hist
			for _, f := range finals {
				e2e.Merge(f.Latency)
				for _, id := range f.IDs {
					if accepted[id] {
						delivered++
					}
				}
			}
			s.Late, s.Delivered = delivered-s.Delivered, delivered
			s.Lost = s.Accepted - s.Delivered
			s.EndToEnd = e2e.Summary() // the late ones included
		}
	}
	if err := st.api.alive(); err != nil {
		return res, err
	}
	return res, st.push.alive()
}

// recvFinals asks every receiver for what it recorded of step.
func recvFinals(ctx context.Context, recv *crew, step int) ([]recvFinal, error) {
	if err := recv.send(Command{Cmd: "final", Step: step}); err != nil {
		return nil, err
	}
	reps, err := recv.gather(ctx, "final", step)
	if err != nil {
		return nil, err
	}
	out := make([]recvFinal, len(reps))
	for i, raw := range reps {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runChatStep sends one step's messages, waits for their delivery and
// measures.
func runChatStep(ctx context.Context, cfg ChatConfig, st *apiStack, send, recv *crew, step, rate int, prev client.Stats, mysqlPID, redisPID int, burst bool) (ChatStep, client.Stats, map[int64]bool, error) {
	s := ChatStep{Rate: rate, Burst: burst}
	stepLen := cfg.Step
	if burst {
		stepLen = time.Second // rate is burst messages per recipient: all of them within a second, if the API keeps up
	}
	calls0, err := scrapeCalls(ctx, st.api.adminAddr)
	if err != nil && st.api.adminAddr != "" {
		return s, prev, nil, err
	}
	api0, push0, mysql0, redis0 := sampleProc(st.api.pid), sampleProc(st.push.pid), sampleProc(mysqlPID), sampleProc(redisPID)
	start := time.Now().Add(100 * time.Millisecond)
	profiled := make(chan error, 1)
	if cfg.Profile != "" && st.api.adminAddr != "" {
		secs := max(1, int(stepLen.Seconds())-1)
		go func() {
			profiled <- fetchProfile(ctx, st.api.adminAddr, secs, fmt.Sprintf("%s-step%d.pprof", cfg.Profile, step))
		}()
	} else {
		profiled <- nil
	}
	body, _ := json.Marshal(sendCmd{Rate: float64(rate) / float64(send.size()), Seconds: stepLen.Seconds(), StartNS: start.UnixNano()})
	if err := send.send(Command{Cmd: "send", Step: step, Body: body}); err != nil {
		return s, prev, nil, err
	}
	reps, err := send.gather(ctx, "sent", step)
	if err != nil {
		return s, prev, nil, err
	}
	api1, push1, mysql1, redis1 := sampleProc(st.api.pid), sampleProc(st.push.pid), sampleProc(mysqlPID), sampleProc(redisPID)
	calls1, _ := scrapeCalls(ctx, st.api.adminAddr)
	if err := <-profiled; err != nil {
		return s, prev, nil, err
	}
	s.API, s.Push = procDelta(api0, api1), procDelta(push0, push1)
	s.MySQL, s.Redis = procDelta(mysql0, mysql1), procDelta(redis0, redis1)
	accepted := map[int64]bool{}
	var acceptH Hist
	var last int64
	for _, raw := range reps {
		var r sendReport
		if err := json.Unmarshal(raw, &r); err != nil {
			return s, prev, nil, err
		}
		for _, id := range r.Accepted {
			accepted[id] = true
		}
		s.Failed += r.Failed
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
		last = max(last, r.LastNS)
		acceptH.Merge(r.Accept)
	}
	s.Accepted = int64(len(accepted))
	s.Accept = acceptH.Summary()
	s.Seconds = max(time.Unix(0, last).Sub(start).Seconds(), stepLen.Seconds())
	s.AcceptedRate = math.Round(float64(s.Accepted) / s.Seconds)
	if s.Accepted > 0 {
		perMsg := func(f ProcFigures) float64 { return round3(1000 * f.CPUSeconds / float64(s.Accepted)) }
		s.CPU = CPUPerMsg{API: perMsg(s.API), MySQL: perMsg(s.MySQL), Push: perMsg(s.Push), Redis: perMsg(s.Redis)}
		s.CPU.Total = round3(s.CPU.API + s.CPU.MySQL + s.CPU.Push + s.CPU.Redis)
	}
	if s.Accepted > 0 && calls1 != nil {
		n := float64(s.Accepted)
		s.SQLPerMessage = round3(1000 * (calls1["sql"].Seconds - calls0["sql"].Seconds) / n)
		s.RedisPerMsg = round3(1000 * (calls1["redis"].Seconds - calls0["redis"].Seconds) / n)
		s.SQLCalls = round3((calls1["sql"].Calls - calls0["sql"].Calls) / n)
		s.RedisCalls = round3((calls1["redis"].Calls - calls0["redis"].Calls) / n)
	}

	// Wait until the recipients have every accepted message, or the grace
	// period ends.
	deadline := time.Now().Add(cfg.Grace)
	for {
		if err := recv.send(Command{Cmd: "count", Step: step}); err != nil {
			return s, prev, nil, err
		}
		reps, err := recv.gather(ctx, "count", step)
		if err != nil {
			return s, prev, nil, err
		}
		var got int64
		for _, raw := range reps {
			var c recvCount
			if err := json.Unmarshal(raw, &c); err != nil {
				return s, prev, nil, err
			}
			got += c.Delivered
		}
		if got >= s.Accepted || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return s, prev, nil, err
		}
	}
	if burst {
		// The acks a burst causes may wait for the next heartbeat (protocol
		// version 2): count until one heartbeat interval has passed.
		if err := sleepCtx(ctx, st.cfg.Heartbeat+time.Second); err != nil {
			return s, prev, nil, err
		}
	}
	finals, err := recvFinals(ctx, recv, step)
	if err != nil {
		return s, prev, nil, err
	}
	var e2e Hist
	var stats client.Stats
	for _, f := range finals {
		for _, id := range f.IDs {
			if accepted[id] {
				s.Delivered++
			} else {
				s.Unaccepted++
			}
		}
		s.Duplicates += f.Duplicates
		e2e.Merge(f.Latency)
		addStats(&stats, f.Stats)
	}
	s.Lost = s.Accepted - s.Delivered
	s.EndToEnd = e2e.Summary()
	s.Frames = frameCount(stats, prev)
	s.Frames.AckInterval, s.Frames.AckBatch = client.DefaultAckInterval.String(), client.DefaultAckBatch
	s.Frames.HeartbeatEvery = st.cfg.Heartbeat.String()

	switch {
	case s.Lost > 0:
		s.Why = fmt.Sprintf("%d accepted messages not delivered within %s (see lost and late)", s.Lost, cfg.Grace)
	case s.Duplicates > 0:
		s.Why = fmt.Sprintf("%d messages delivered twice", s.Duplicates)
	case s.AcceptedRate < 0.95*float64(rate):
		s.Why = fmt.Sprintf("accepted %.0f/s, under 95%% of %d/s", s.AcceptedRate, rate)
	case s.Failed > s.Accepted/1000:
		s.Why = fmt.Sprintf("%d sends failed (first: %s)", s.Failed, s.FirstError)
	case s.EndToEnd.P99 > float64(cfg.MaxP99)/float64(time.Millisecond):
		s.Why = fmt.Sprintf("end-to-end p99 %.0f ms over %s", s.EndToEnd.P99, cfg.MaxP99)
	default:
		s.Sustained = true
	}
	return s, stats, accepted, nil
}

func addStats(t *client.Stats, s client.Stats) {
	t.FramesSent += s.FramesSent
	t.HellosSent += s.HellosSent
	t.PingsSent += s.PingsSent
	t.AcksSent += s.AcksSent
	t.Heartbeats += s.Heartbeats
	t.FramesRecv += s.FramesRecv
	t.ClosesSent += s.ClosesSent
	t.Delivered += s.Delivered
	t.SyncPages += s.SyncPages
	t.Syncs += s.Syncs
	t.Connects += s.Connects
	t.Reconnects += s.Reconnects
	t.Duplicates += s.Duplicates
	t.MessagesRecv += s.MessagesRecv
	t.GapsSynced += s.GapsSynced
	t.DialFailures += s.DialFailures
}

// frameCount is what the clients sent between two snapshots of their totals.
func frameCount(now, prev client.Stats) FrameCount {
	f := FrameCount{
		Delivered:    now.Delivered - prev.Delivered,
		Frames:       now.FramesSent - prev.FramesSent,
		Acks:         now.AcksSent - prev.AcksSent,
		Pings:        now.PingsSent - prev.PingsSent,
		Heartbeats:   now.Heartbeats - prev.Heartbeats,
		Received:     now.FramesRecv - prev.FramesRecv,
		Hellos:       now.HellosSent - prev.HellosSent,
		SyncRequests: now.SyncPages - prev.SyncPages,
	}
	if f.Delivered > 0 {
		k := 1000 / float64(f.Delivered)
		f.PerThousand = round3(float64(f.Frames) * k)
		f.AcksPerThou = round3(float64(f.Acks) * k)
		f.SyncsPerThou = round3(float64(f.SyncRequests) * k)
	}
	return f
}

// fetchProfile writes a CPU profile of secs seconds from the admin
// address's /debug/pprof/profile to path.
func fetchProfile(ctx context.Context, adminAddr string, secs int, path string) error {
	return fetchDebug(ctx, adminAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), path)
}

// fetchDebug writes what the admin address answers at uri to path.
func fetchDebug(ctx context.Context, adminAddr, uri, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+uri, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loadgen: %s: %s", uri, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// registerUsers registers names over REST, 8 at a time, and returns their ids.
func registerUsers(ctx context.Context, apiBase string, names []string) ([]int64, error) {
	a := client.NewAPI(apiBase, benchHTTPClient(16))
	ids := make([]int64, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) || ctx.Err() != nil {
					return
				}
				u, err := a.Register(ctx, names[i], benchPassword)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("loadgen: register %s: %w", names[i], err)
					}
					mu.Unlock()
					return
				}
				ids[i] = u.ID
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return ids, first
}

// benchHTTPClient is a keep-alive client that holds up to conns connections
// to the API.
func benchHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// runChatSender logs its users in, then sends each "send" step's messages
// at the asked rate: message k is due at start + k/rate, from one of
// Concurrency goroutines, sender k mod users to that sender's recipient.
func runChatSender(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg chatSendConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if len(cfg.Users) == 0 || cfg.Concurrency <= 0 {
		return errors.New("loadgen: chat sender needs users and a concurrency")
	}
	a := client.NewAPI(cfg.APIBase, benchHTTPClient(cfg.Concurrency))
	tokens := make([]string, len(cfg.Users))
	if err := parallel(ctx, len(cfg.Users), 8, func(i int) error {
		u := cfg.Users[i]
		t, err := a.Login(ctx, u.Name, cfg.Password, "bench-"+strconv.FormatInt(u.ID, 10), "desktop")
		if err != nil {
			return fmt.Errorf("login %s: %w", u.Name, err)
		}
		tokens[i] = t.AccessToken
		return nil
	}); err != nil {
		return err
	}
	if err := w.emit("ready", 0, nil); err != nil {
		return err
	}
	for {
		c, ok := w.nextCmd(ctx)
		if !ok {
			return nil
		}
		if c.Cmd != "send" {
			continue
		}
		var sc sendCmd
		if err := json.Unmarshal(c.Body, &sc); err != nil {
			return err
		}
		r := sendStep(ctx, a, cfg, tokens, w.ID, c.Step, sc)
		if err := w.emit("sent", c.Step, r); err != nil {
			return err
		}
	}
}

func sendStep(ctx context.Context, a *client.API, cfg chatSendConfig, tokens []string, id, step int, sc sendCmd) sendReport {
	start := time.Unix(0, sc.StartNS)
	total := int64(sc.Rate * sc.Seconds)
	period := float64(time.Second) / sc.Rate
	var next atomic.Int64
	var mu sync.Mutex
	var r sendReport
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []int64
			var h Hist
			var failed int64
			var firstErr string
			var last int64
			for {
				k := next.Add(1) - 1
				if k >= total || ctx.Err() != nil {
					break
				}
				due := start.Add(time.Duration(float64(k) * period))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				u := int(k % int64(len(cfg.Users)))
				t0 := time.Now()
				content, _ := json.Marshal(chatContent{Text: "bench", SentNS: t0.UnixNano(), Step: step})
				msg, _, err := a.Send(ctx, tokens[u], cfg.Users[u].To, fmt.Sprintf("w%d-s%d-%d", id, step, k), tether.MessageCustom, content)
				t1 := time.Now()
				last = t1.UnixNano()
				if err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				h.Add(t1.Sub(t0))
				ids = append(ids, msg.ID)
			}
			mu.Lock()
			r.Accepted = append(r.Accepted, ids...)
			r.Failed += failed
			if r.FirstError == "" {
				r.FirstError = firstErr
			}
			r.LastNS = max(r.LastNS, last)
			r.Accept.Merge(h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return r
}

// parallel runs f(0..n-1) on k goroutines and returns the first error.
func parallel(ctx context.Context, n, k int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(k, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// stepLog is what a receiver process recorded of one step.
type stepLog struct {
	ids        []int64
	duplicates int64
	latency    Hist
}

// runChatReceiver keeps one push/client per recipient connected (the real
// client: cumulative, batched acks, heartbeats, syncs) and records every
// delivered bench message by step: its id and its end-to-end latency.
func runChatReceiver(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg chatRecvConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if len(cfg.Users) == 0 {
		return errors.New("loadgen: chat receiver needs users")
	}
	var mu sync.Mutex
	steps := map[int]*stepLog{}
	seen := map[int64]bool{}
	hc := benchHTTPClient(64)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	clients := make([]*client.Client, len(cfg.Users))
	for i, u := range cfg.Users {
		clients[i] = client.New(client.Config{
			APIBase: cfg.APIBase, PushAddr: cfg.PushAddr,
			Username: u.Name, Password: cfg.Password,
			DeviceID: "bench-" + strconv.FormatInt(u.ID, 10), Platform: "desktop", AppVersion: "bench",
			HTTPClient: hc, Logger: logger,
			Handler: func(e tether.Entry) {
				now := time.Now()
				if e.Message == nil {
					return
				}
				var c chatContent
				if json.Unmarshal(e.Message.Content, &c) != nil || c.Step == 0 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				sl := steps[c.Step]
				if sl == nil {
					sl = &stepLog{}
					steps[c.Step] = sl
				}
				if seen[e.Message.ID] {
					sl.duplicates++
					return
				}
				seen[e.Message.ID] = true
				sl.ids = append(sl.ids, e.Message.ID)
				sl.latency.Add(now.Sub(time.Unix(0, c.SentNS)))
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
	total := func() client.Stats {
		var t client.Stats
		for _, c := range clients {
			addStats(&t, c.Stats())
		}
		return t
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
			sl = &stepLog{}
		}
		var body any
		switch c.Cmd {
		case "count":
			body = recvCount{Delivered: int64(len(sl.ids))}
		case "final":
			body = recvFinal{IDs: sl.ids, Duplicates: sl.duplicates, Latency: sl.latency}
		}
		mu.Unlock()
		if f, isFinal := body.(recvFinal); isFinal {
			f.Stats = total()
			body = f
		}
		if body != nil {
			if err := w.emit(c.Cmd, c.Step, body); err != nil {
				return err
			}
		}
	}
}

// allConnected waits until every client completed its first handshake. It
// reports false, with the error that ended a client's Run or nil when ctx
// ended first, if that never happens.
func allConnected(ctx context.Context, clients []*client.Client, runErr <-chan error) (bool, error) {
	for {
		n := 0
		for _, c := range clients {
			if c.Stats().Connects > 0 {
				n++
			}
		}
		if n == len(clients) {
			return true, nil
		}
		select {
		case err := <-runErr:
			return false, err
		case <-ctx.Done():
			return false, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startClients runs every client, with at most 64 first handshakes in
// flight: thousands at once only measure the node's accept queue, and a
// handshake that times out in such a pile-up only makes the client retry
// (before the fix of the node's stale-handshake bug, the late first attempt
// kicked the retry).
func startClients(ctx context.Context, clients []*client.Client, wg *sync.WaitGroup, runErr chan<- error) {
	sem := make(chan struct{}, 64)
	for i, c := range clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		ran := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(ran)
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				runErr <- &clientError{i: i, err: err}
			}
		}()
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for {
				if st := c.Stats(); st.Connects > 0 || st.DialFailures > 0 {
					return
				}
				select {
				case <-ran:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
	}
}

// clientError is why client i's Run returned.
type clientError struct {
	i   int
	err error
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// WriteChatTable prints r for people.
func WriteChatTable(w io.Writer, r ChatResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "chat: %d senders -> %d recipients online (push/client), %d sender and %d receiver processes, setup %.1fs, load average %.1f -> %.1f\n",
		r.Users, r.Users, r.Senders, r.Receivers, r.SetupSecs, r.LoadStart[0], r.LoadEnd[0])
	fmt.Fprintln(tw, "rate/s\taccepted/s\tlost\tfailed\te2e p50 ms\te2e p99 ms\taccept p99 ms\tSQL ms/msg\tRedis ms/msg\tAPI CPU%\tpush CPU%\tCPU ms/msg: API\tMySQL\tpush\tRedis\tall\tframes/1000\tacks/1000\tsustained\t")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%d\t%.0f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.3f\t%.3f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\t%v\t\n",
			s.Rate, s.AcceptedRate, s.Lost, s.Failed, s.EndToEnd.P50, s.EndToEnd.P99, s.Accept.P99,
			s.SQLPerMessage, s.RedisPerMsg, s.API.CPUPercent, s.Push.CPUPercent,
			s.CPU.API, s.CPU.MySQL, s.CPU.Push, s.CPU.Redis, s.CPU.Total, s.Frames.PerThousand, s.Frames.AcksPerThou, s.Sustained)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Steps {
		if !s.Sustained {
			fmt.Fprintf(w, "stopped at %d/s: %s\n", s.Rate, s.Why)
		}
	}
	_, err := fmt.Fprintf(w, "sustained: %d msgs/s; with end-to-end p99 <= 50 ms: %d msgs/s; with p99 <= 100 ms: %d msgs/s at %.3f ms of server CPU per message\n",
		r.Sustained, r.Within50ms, r.Within100ms, r.CPUAt100ms)
	return err
}

// Targets of the chat scenario: at least 5,000 persisted messages a second
// sustained with end-to-end p99 <= 50 ms, and nothing lost at any step
// (issue 5); at least 3,000 with p99 <= 100 ms at no more than 0.6 ms of
// CPU per message in all server processes together (issue 13).
func (r ChatResult) Targets() []Target {
	var lost int64
	for _, s := range r.Steps {
		lost += s.Lost + s.Duplicates
	}
	return []Target{
		AtLeast("sustained msgs/s with end-to-end p99 <= 50 ms", 5000, float64(r.Within50ms), UnitPerSecond),
		AtMost("messages lost or duplicated", 0, float64(lost), UnitCount),
		AtLeast("sustained msgs/s with end-to-end p99 <= 100 ms", 3000, float64(r.Within100ms), UnitPerSecond),
		AtMost("server CPU per message at that rate (API, MySQL, push node, Redis)", 0.0006, r.CPUAt100ms/1000, UnitSeconds),
	}
}
