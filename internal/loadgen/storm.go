package loadgen

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
	"github.com/tetherim/tether/shared/token"
)

// StormConfig configures RunStorm: N push/client clients connect to one
// push node; messages flow over REST to Targets of them; the node is
// killed with SIGKILL and started again on the same port, and every client
// must come back by itself (full-jitter backoff) and resync, losing nothing.
type StormConfig struct {
	Stack   Stack
	Worker  WorkerArgs
	N       int           // clients (default 15000)
	Workers int           // client processes (default: 5000 clients each, at least 3)
	Targets int           // clients that receive messages throughout (default N/10, at most 2000)
	Rate    int           // messages per second to the targets, before, during and after the cut (default 500)
	Before  time.Duration // sending before the cut (default 2s)
	Down    time.Duration // how long the node stays dead (default 0: started again at once)
	After   time.Duration // sending after every client is back (default 1s)
	Wait    time.Duration // bound on waiting for every client to be back and synced (default 60s)
	Grace   time.Duration // bound on waiting for the last deliveries after sending stops (default 10s)
	Timeout time.Duration // bound of the whole run (default 10m)
	Stderr  io.Writer
	// Goroutines, if set, is a file the restarted node's goroutine dump is
	// written to, two seconds after it is ready: where the reconnects wait.
	Goroutines string
}

// StormResult is what RunStorm measured. Times are from the SIGKILL.
type StormResult struct {
	Clients        int         `json:"clients"`
	Workers        int         `json:"worker_processes"`
	Receiving      int         `json:"receiving_clients"` // clients messages are sent to
	WaitSeconds    float64     `json:"wait_seconds"`      // how long the run waited for all to be back and synced
	ConnectSeconds float64     `json:"connect_seconds"`   // first connection of every client, before the cut
	RestartSeconds float64     `json:"restart_seconds"`   // SIGKILL to the new node answering /readyz
	AllBackSeconds float64     `json:"all_back_seconds"`
	SyncedSeconds  float64     `json:"all_synced_seconds"` // every client back and holding every message accepted before it came back
	Back           Latency     `json:"back"`               // per client, ms after the kill
	Synced         Latency     `json:"synced"`
	NotBack        int64       `json:"not_back"`
	Kicked         int64       `json:"kicked"`      // clients the node kicked after the cut (they stop for good)
	LostKicked     int64       `json:"lost_kicked"` // of the lost messages, those to kicked clients
	FirstKick      string      `json:"first_kick,omitempty"`
	Sent           int64       `json:"accepted"` // messages accepted by the API in the whole run
	SentDuringCut  int64       `json:"accepted_while_cut"`
	Failed         int64       `json:"send_failed"`
	FirstError     string      `json:"first_error,omitempty"`
	Delivered      int64       `json:"delivered"` // distinct accepted messages delivered
	Lost           int64       `json:"lost"`
	Duplicates     int64       `json:"duplicates"`
	Reconnects     uint64      `json:"reconnects"`
	DialFailures   uint64      `json:"dial_failures"`
	Syncs          uint64      `json:"syncs"`
	SyncPages      uint64      `json:"sync_pages"`
	Push           ProcFigures `json:"push_recovery"` // the new node, from its start to all synced
	API            ProcFigures `json:"api_recovery"`
	ClientsCPU     ProcFigures `json:"clients_recovery"` // every worker process together
	LoadAtCut      [3]float64  `json:"loadavg_at_cut"`   // the machine's load average
}

func (c *StormConfig) defaults() error {
	if c.N <= 0 {
		c.N = 15000
	}
	if c.N > MaxConnections {
		return fmt.Errorf("loadgen: at most %d storm clients, got %d", MaxConnections, c.N)
	}
	if c.Workers <= 0 {
		c.Workers = max(3, (c.N+4999)/5000)
	}
	c.Workers = min(c.Workers, c.N)
	if (c.N+c.Workers-1)/c.Workers > MaxPerWorker {
		return fmt.Errorf("loadgen: %d clients over %d workers is over %d per worker process", c.N, c.Workers, MaxPerWorker)
	}
	if c.Targets <= 0 {
		c.Targets = min(max(c.N/10, 1), 2000)
	}
	c.Targets = min(c.Targets, c.N)
	if c.Rate <= 0 {
		c.Rate = 500
	}
	if c.Before <= 0 {
		c.Before = 2 * time.Second
	}
	if c.After <= 0 {
		c.After = time.Second
	}
	if c.Wait <= 0 {
		c.Wait = 60 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
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

type stormWorkerConfig struct {
	APIBase  string      `json:"api_base"`
	PushAddr string      `json:"push_addr"`
	Key      string      `json:"key"` // signs the clients' access tokens, as the API would
	Password string      `json:"password"`
	Users    []benchUser `json:"users"`
	Targets  int         `json:"targets"` // the first Targets users receive messages
	Senders  []benchUser `json:"senders"`
}

// stormStatus is a storm worker's answer to "status".
type stormStatus struct {
	Back     int   `json:"back"`
	Synced   int   `json:"synced"`
	Pending  int64 `json:"pending"` // accepted messages not yet delivered
	Accepted int64 `json:"accepted"`
	Kicked   int64 `json:"kicked"` // clients the server kicked: they never come back
	Done     int   `json:"done"`   // clients synced or kicked: nothing more to wait for
}

// stormFinal is a storm worker's answer to "final".
type stormFinal struct {
	Accepted      int64        `json:"accepted"`
	AcceptedInCut int64        `json:"accepted_while_cut"`
	Failed        int64        `json:"failed"`
	FirstError    string       `json:"first_error,omitempty"`
	Delivered     int64        `json:"delivered"`
	Lost          int64        `json:"lost"`
	Duplicates    int64        `json:"duplicates"`
	NotBack       int64        `json:"not_back"`
	Kicked        int64        `json:"kicked"`
	FirstKick     string       `json:"first_kick,omitempty"`
	LostKicked    int64        `json:"lost_kicked"`
	Back          Hist         `json:"back"`
	Synced        Hist         `json:"synced"`
	Stats         client.Stats `json:"stats"`
}

// RunStorm runs the storm scenario.
func RunStorm(ctx context.Context, cfg StormConfig) (StormResult, error) {
	if err := cfg.defaults(); err != nil {
		return StormResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := StormResult{Clients: cfg.N, Workers: cfg.Workers, Receiving: cfg.Targets, WaitSeconds: cfg.Wait.Seconds()}
	st, err := startStack(ctx, cfg.Stack)
	if err != nil {
		return res, err
	}
	defer st.close()
	if st.key == nil || st.dsn == "" {
		return res, errors.New("loadgen: storm on a running cluster needs --token-key-file and --mysql (its users are inserted directly)")
	}

	run := randHex(3)
	users, senders, err := createStormUsers(ctx, st, run, cfg.N, 4*cfg.Workers)
	if err != nil {
		return res, err
	}
	// Targets are spread evenly over the workers: the first targets of each share.
	var cfgs []any
	shares := split(0, 0, cfg.N, cfg.Workers)
	for i, sh := range shares {
		cfgs = append(cfgs, stormWorkerConfig{
			APIBase: st.apiURL, PushAddr: st.pushAddr, Key: token.EncodePrivate(st.key), Password: benchPassword,
			Users:   users[sh.first : sh.first+int64(sh.count)],
			Targets: min(sh.count, cfg.Targets/len(shares)+boolInt(i < cfg.Targets%len(shares))),
			Senders: senders[4*i : 4*i+4],
		})
	}
	connectStart := time.Now()
	crew, err := startCrew(cfg.Worker, roleStorm, cfgs, cfg.Stderr)
	if err != nil {
		return res, err
	}
	defer crew.stop()
	if _, err := crew.gather(ctx, "ready", 0); err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(connectStart).Seconds()
	fmt.Fprintf(cfg.Stderr, "storm: %d clients connected in %.1fs\n", cfg.N, res.ConnectSeconds)

	rate, _ := json.Marshal(float64(cfg.Rate) / float64(crew.size()))
	if err := crew.send(Command{Cmd: "send", Body: rate}); err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, cfg.Before); err != nil {
		return res, err
	}
	if err := crew.send(Command{Cmd: "arm"}); err != nil {
		return res, err
	}
	if _, err := crew.gather(ctx, "armed", 0); err != nil {
		return res, err
	}

	// The cut: SIGKILL, then the same node (id, port, settings) again.
	res.LoadAtCut = LoadAvg()
	killed := time.Now()
	if err := st.push.kill(); err != nil {
		return res, err
	}
	cutBody, _ := json.Marshal(killed.UnixNano())
	if err := crew.send(Command{Cmd: "cut", Body: cutBody}); err != nil {
		return res, err
	}
	if err := sleepCtx(ctx, cfg.Down); err != nil {
		return res, err
	}
	if err := st.push.start(ctx); err != nil {
		return res, err
	}
	res.RestartSeconds = time.Since(killed).Seconds()
	push0, api0, clients0 := sampleProc(st.push.pid), sampleProc(st.api.pid), crew.sample()
	dumped := make(chan error, 1)
	go func() {
		if cfg.Goroutines == "" || st.push.adminAddr == "" {
			dumped <- nil
			return
		}
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			dumped <- err
			return
		}
		dumped <- fetchDebug(ctx, st.push.adminAddr, "/debug/pprof/goroutine?debug=1", cfg.Goroutines)
	}()

	// Wait for every client to be back and synced.
	waitCtx, cancelWait := context.WithTimeout(ctx, cfg.Wait)
	defer cancelWait()
	step := 0
	status := func(c context.Context) (stormStatus, error) {
		step++
		if err := crew.send(Command{Cmd: "status", Step: step}); err != nil {
			return stormStatus{}, err
		}
		reps, err := crew.gather(c, "status", step)
		if err != nil {
			return stormStatus{}, err
		}
		var t stormStatus
		for _, raw := range reps {
			var s stormStatus
			if err := json.Unmarshal(raw, &s); err != nil {
				return t, err
			}
			t.Back, t.Synced, t.Pending, t.Accepted = t.Back+s.Back, t.Synced+s.Synced, t.Pending+s.Pending, t.Accepted+s.Accepted
			t.Kicked, t.Done = t.Kicked+s.Kicked, t.Done+s.Done
		}
		return t, nil
	}
	var last stormStatus
	for {
		if last, err = status(ctx); err != nil {
			return res, err
		}
		if last.Done >= cfg.N {
			break
		}
		if waitCtx.Err() != nil {
			fmt.Fprintf(cfg.Stderr, "storm: after %s only %d of %d back, %d synced\n", cfg.Wait, last.Back, cfg.N, last.Synced)
			break
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	push1, api1, clients1 := sampleProc(st.push.pid), sampleProc(st.api.pid), crew.sample()
	if err := <-dumped; err != nil {
		return res, err
	}
	res.Push, res.API, res.ClientsCPU = procDelta(push0, push1), procDelta(api0, api1), procDelta(clients0, clients1)
	if err := sleepCtx(ctx, cfg.After); err != nil {
		return res, err
	}
	if err := crew.send(Command{Cmd: "stop"}); err != nil {
		return res, err
	}
	if _, err := crew.gather(ctx, "stopped", 0); err != nil {
		return res, err
	}
	// The last deliveries.
	graceEnd := time.Now().Add(cfg.Grace)
	for {
		if last, err = status(ctx); err != nil {
			return res, err
		}
		if last.Pending == 0 || time.Now().After(graceEnd) {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	if err := crew.send(Command{Cmd: "final"}); err != nil {
		return res, err
	}
	reps, err := crew.gather(ctx, "final", 0)
	if err != nil {
		return res, err
	}
	var back, synced Hist
	for _, raw := range reps {
		var f stormFinal
		if err := json.Unmarshal(raw, &f); err != nil {
			return res, err
		}
		res.Sent += f.Accepted
		res.SentDuringCut += f.AcceptedInCut
		res.Failed += f.Failed
		if res.FirstError == "" {
			res.FirstError = f.FirstError
		}
		res.Delivered += f.Delivered
		res.Lost += f.Lost
		res.Duplicates += f.Duplicates
		res.NotBack += f.NotBack
		res.Kicked += f.Kicked
		res.LostKicked += f.LostKicked
		if res.FirstKick == "" {
			res.FirstKick = f.FirstKick
		}
		res.Reconnects += f.Stats.Reconnects
		res.DialFailures += f.Stats.DialFailures
		res.Syncs += f.Stats.Syncs
		res.SyncPages += f.Stats.SyncPages
		back.Merge(f.Back)
		synced.Merge(f.Synced)
	}
	res.Back, res.Synced = back.Summary(), synced.Summary()
	res.AllBackSeconds, res.SyncedSeconds = round3(back.Max/1000), round3(synced.Max/1000)
	if res.NotBack > 0 || synced.N < int64(cfg.N) {
		res.AllBackSeconds, res.SyncedSeconds = -1, -1 // never: not everyone made it
	}
	if err := st.api.alive(); err != nil {
		return res, err
	}
	return res, st.push.alive()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// createStormUsers makes n users (and k senders) for a storm with
// InsertUsers. Their access tokens are minted with the API's key; they can
// also log in with benchPassword.
func createStormUsers(ctx context.Context, st *apiStack, run string, n, k int) (users, senders []benchUser, err error) {
	names := make([]string, 0, n+k)
	for i := range n {
		names = append(names, fmt.Sprintf("bs%s-u%d", run, i))
	}
	for i := range k {
		names = append(names, fmt.Sprintf("bs%s-x%d", run, i))
	}
	ids, err := InsertUsers(ctx, st.apiURL, st.dsn, "bs"+run+"-tmpl", names)
	if err != nil {
		return nil, nil, err
	}
	for i, nm := range names {
		if i < n {
			users = append(users, benchUser{Name: nm, ID: ids[i]})
		} else {
			senders = append(senders, benchUser{Name: nm, ID: ids[i]})
		}
	}
	return users, senders, nil
}

// InsertUsers makes the users named names and returns their ids in the
// same order. Registering thousands over REST would take minutes of
// argon2 hashing, which is not what a run measures, so only tmpl is
// registered over REST (at apiBase) and the rest are inserted into the
// database at dsn with its password hash, as Register writes them (a users
// row and a timeline head each). They can log in with the bench password.
func InsertUsers(ctx context.Context, apiBase, dsn, tmpl string, names []string) ([]int64, error) {
	if _, err := registerUsers(ctx, apiBase, []string{tmpl}); err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var hash string
	if err := db.QueryRowContext(ctx, "SELECT password_hash FROM users WHERE username = ?", tmpl).Scan(&hash); err != nil {
		return nil, fmt.Errorf("loadgen: template user: %w", err)
	}
	now := time.Now().UTC()
	ids := make(map[string]int64, len(names))
	for from := 0; from < len(names); from += 1000 {
		batch := names[from:min(from+1000, len(names))]
		marks := strings.TrimSuffix(strings.Repeat("?,", len(batch)), ",")
		q := "INSERT INTO users (username, password_hash, created_at) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?,?),", len(batch)), ",")
		args := make([]any, 0, 3*len(batch))
		in := make([]any, 0, len(batch))
		for _, nm := range batch {
			args = append(args, nm, hash, now)
			in = append(in, nm)
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("loadgen: insert users: %w", err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO timeline_heads (user_id, version) SELECT id, 0 FROM users WHERE username IN ("+marks+")", in...); err != nil {
			return nil, fmt.Errorf("loadgen: insert timeline heads: %w", err)
		}
		rows, err := db.QueryContext(ctx, "SELECT id, username FROM users WHERE username IN ("+marks+")", in...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var nm string
			if err := rows.Scan(&id, &nm); err != nil {
				rows.Close()
				return nil, err
			}
			ids[nm] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(names))
	for i, nm := range names {
		id, ok := ids[nm]
		if !ok {
			return nil, fmt.Errorf("loadgen: user %s was not inserted", nm)
		}
		out[i] = id
	}
	return out, nil
}

// stormClient is one client of a storm worker and what it received.
type stormClient struct {
	c        *client.Client
	target   bool
	armedAt  uint64 // Connects when armed
	backNS   atomic.Int64
	accepted []acceptedMsg   // guarded by the worker's mu
	got      map[int64]int64 // message id -> unix ns delivered; guarded by mu
	dups     int64           // guarded by mu
	kicked   bool            // guarded by mu
}

type acceptedMsg struct {
	id int64
	at int64 // unix ns of the API's answer
}

// runStormWorker keeps its clients connected with push/client, sends
// messages to its targets when told, and tells when each client came back
// after the cut and when it held every message accepted before that.
func runStormWorker(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg stormWorkerConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	key, err := token.ParsePrivate(cfg.Key)
	if err != nil {
		return err
	}
	if len(cfg.Users) == 0 || len(cfg.Senders) == 0 {
		return errors.New("loadgen: storm worker needs users and senders")
	}
	signer := token.NewSigner(key, 2*time.Hour)
	mint := func(u benchUser) (*tether.Tokens, error) {
		dev := "bench-" + strconv.FormatInt(u.ID, 10)
		tok, exp, err := signer.Sign(token.Claims{UserID: u.ID, DeviceID: dev, Platform: "desktop", SessionID: dev})
		if err != nil {
			return nil, err
		}
		return &tether.Tokens{AccessToken: tok, TokenType: "Bearer", ExpiresAt: exp, UserID: u.ID, SessionID: dev}, nil
	}
	var mu sync.Mutex
	hc := benchHTTPClient(256)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	clients := make([]*stormClient, len(cfg.Users))
	for i, u := range cfg.Users {
		tok, err := mint(u)
		if err != nil {
			return err
		}
		sc := &stormClient{target: i < cfg.Targets, got: map[int64]int64{}}
		sc.c = client.New(client.Config{
			APIBase: cfg.APIBase, PushAddr: cfg.PushAddr,
			Tokens: tok, Username: u.Name, Password: cfg.Password,
			DeviceID: tok.SessionID, Platform: "desktop", AppVersion: "bench",
			HTTPClient: hc, Logger: logger,
			Handler: func(e tether.Entry) {
				if e.Message == nil {
					return
				}
				now := time.Now().UnixNano()
				mu.Lock()
				if _, dup := sc.got[e.Message.ID]; dup {
					sc.dups++
				} else {
					sc.got[e.Message.ID] = now
				}
				mu.Unlock()
			},
		})
		clients[i] = sc
	}
	runErr := make(chan error, len(clients))
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, which ends every Run
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs := make([]*client.Client, len(clients))
	for i, sc := range clients {
		cs[i] = sc.c
	}
	startClients(ctx, cs, &wg, runErr)
	for {
		n := 0
		for _, sc := range clients {
			if sc.c.Stats().Connects > 0 {
				n++
			}
		}
		if n == len(clients) {
			break
		}
		select {
		case err := <-runErr:
			return err
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := w.emit("ready", 0, nil); err != nil {
		return err
	}

	// The sender: one paced loop, Concurrency requests in flight.
	a := client.NewAPI(cfg.APIBase, hc)
	senderTokens := make([]string, len(cfg.Senders))
	for i, u := range cfg.Senders {
		t, err := mint(u)
		if err != nil {
			return err
		}
		senderTokens[i] = t.AccessToken
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	var cutNS atomic.Int64
	var accepted, acceptedInCut atomic.Int64
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	var sendWG sync.WaitGroup
	startSending := func(rate float64) {
		if cfg.Targets == 0 || rate <= 0 {
			return
		}
		start := time.Now()
		period := float64(time.Second) / rate
		var next atomic.Int64
		for range 16 {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				for {
					k := next.Add(1) - 1
					due := start.Add(time.Duration(float64(k) * period))
					if !sleep(sendCtx, time.Until(due)) {
						return
					}
					t := clients[int(k%int64(cfg.Targets))]
					s := int(k % int64(len(cfg.Senders)))
					content, _ := json.Marshal(chatContent{Text: "storm", SentNS: time.Now().UnixNano(), Step: 1})
					msg, _, err := a.Send(sendCtx, senderTokens[s], t.c.UserID(), fmt.Sprintf("storm-w%d-%d", w.ID, k), tether.MessageCustom, content)
					if err != nil {
						if sendCtx.Err() != nil {
							return // stopped mid-request: its fate is unknown, so it is not counted
						}
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					at := time.Now().UnixNano()
					accepted.Add(1)
					if c := cutNS.Load(); c > 0 && t.backNS.Load() == 0 {
						acceptedInCut.Add(1)
					}
					mu.Lock()
					t.accepted = append(t.accepted, acceptedMsg{id: msg.ID, at: at})
					mu.Unlock()
				}
			}()
		}
	}

	// Watch for clients coming back after the cut.
	watchStop := make(chan struct{})
	watching := false
	watch := func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-watchStop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := time.Now().UnixNano()
			for _, sc := range clients {
				if sc.backNS.Load() == 0 && sc.c.Stats().Connects > sc.armedAt {
					sc.backNS.Store(now)
				}
			}
		}
	}
	defer func() {
		if watching {
			close(watchStop)
		}
	}()

	// syncedAt is when client sc held every message accepted before it
	// came back (0: not yet); mu must be held.
	syncedAt := func(sc *stormClient) int64 {
		back := sc.backNS.Load()
		if back == 0 {
			return 0
		}
		at := back
		for _, m := range sc.accepted {
			if m.at > back {
				continue
			}
			got, ok := sc.got[m.id]
			if !ok {
				return 0
			}
			at = max(at, got)
		}
		return at
	}

	var kicked int64
	var firstKick string
	for {
		var c Command
		var ok bool
		select {
		case err := <-runErr:
			// A kicked client stays away for good (push/client): it is
			// reported as not back, not as a failure of the bench.
			var k *client.KickedError
			var ce *clientError
			if !errors.As(err, &k) || !errors.As(err, &ce) {
				return err
			}
			mu.Lock()
			clients[ce.i].kicked = true
			mu.Unlock()
			if kicked++; firstKick == "" {
				firstKick = err.Error()
			}
			continue
		case c, ok = <-w.cmds:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			return nil
		}
		switch c.Cmd {
		case "send":
			var rate float64
			if err := json.Unmarshal(c.Body, &rate); err != nil {
				return err
			}
			startSending(rate)
		case "arm":
			for _, sc := range clients {
				sc.armedAt = sc.c.Stats().Connects
			}
			if !watching {
				watching = true
				go watch()
			}
			if err := w.emit("armed", 0, nil); err != nil {
				return err
			}
		case "cut":
			var at int64
			if err := json.Unmarshal(c.Body, &at); err != nil {
				return err
			}
			cutNS.Store(at)
		case "status":
			s := stormStatus{Kicked: kicked}
			mu.Lock()
			for _, sc := range clients {
				if sc.backNS.Load() > 0 {
					s.Back++
					if syncedAt(sc) > 0 {
						s.Synced++
					}
				}
				if sc.kicked || syncedAt(sc) > 0 {
					s.Done++
				}
				for _, m := range sc.accepted {
					if _, ok := sc.got[m.id]; !ok {
						s.Pending++
					}
				}
				s.Accepted += int64(len(sc.accepted))
			}
			mu.Unlock()
			if err := w.emit("status", c.Step, s); err != nil {
				return err
			}
		case "stop":
			stopSend()
			sendWG.Wait()
			if err := w.emit("stopped", 0, nil); err != nil {
				return err
			}
		case "final":
			f := stormFinal{Accepted: accepted.Load(), AcceptedInCut: acceptedInCut.Load(), Failed: failed.Load(), Kicked: kicked, FirstKick: firstKick}
			f.FirstError, _ = firstErr.Load().(string)
			cut := cutNS.Load()
			mu.Lock()
			for _, sc := range clients {
				for _, m := range sc.accepted {
					if _, ok := sc.got[m.id]; ok {
						f.Delivered++
					} else if f.Lost++; sc.kicked {
						f.LostKicked++
					}
				}
				f.Duplicates += sc.dups
				back := sc.backNS.Load()
				if back == 0 {
					f.NotBack++
					continue
				}
				f.Back.Add(time.Duration(back - cut))
				if s := syncedAt(sc); s > 0 {
					f.Synced.Add(time.Duration(s - cut))
				}
			}
			mu.Unlock()
			for _, sc := range clients {
				addStats(&f.Stats, sc.c.Stats())
			}
			if err := w.emit("final", 0, f); err != nil {
				return err
			}
		}
	}
}

// sleep waits d (at once if d <= 0) or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	return sleepCtx(ctx, d) == nil
}

// WriteStormTable prints r for people.
func WriteStormTable(w io.Writer, r StormResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"clients", fmt.Sprintf("%d over %d worker processes (push/client), %d receiving messages", r.Clients, r.Workers, r.Receiving)},
		{"first connect", fmt.Sprintf("%.2fs", r.ConnectSeconds)},
		{"node restart", fmt.Sprintf("%.3fs from SIGKILL to /readyz", r.RestartSeconds)},
		{"all back", fmt.Sprintf("%.3fs after the kill (per client p50 %.0f ms, p99 %.0f ms, max %.0f ms); %d not back, %d kicked %s", r.AllBackSeconds, r.Back.P50, r.Back.P99, r.Back.Max, r.NotBack, r.Kicked, r.FirstKick)},
		{"all synced", fmt.Sprintf("%.3fs after the kill (per client p50 %.0f ms, p99 %.0f ms, max %.0f ms)", r.SyncedSeconds, r.Synced.P50, r.Synced.P99, r.Synced.Max)},
		{"messages", fmt.Sprintf("%d accepted (%d while clients were cut off), %d failed", r.Sent, r.SentDuringCut, r.Failed)},
		{"delivery", fmt.Sprintf("%d delivered, %d lost (%d of them to kicked clients), %d duplicates", r.Delivered, r.Lost, r.LostKicked, r.Duplicates)},
		{"client work", fmt.Sprintf("%d reconnects, %d failed dials, %d syncs (%d pages)", r.Reconnects, r.DialFailures, r.Syncs, r.SyncPages)},
		{"recovery CPU", fmt.Sprintf("push %.2fs (%.0f%%), API %.2fs (%.0f%%), client processes %.2fs (%.0f%%)", r.Push.CPUSeconds, r.Push.CPUPercent, r.API.CPUSeconds, r.API.CPUPercent, r.ClientsCPU.CPUSeconds, r.ClientsCPU.CPUPercent)},
		{"machine", fmt.Sprintf("load average %.1f at the cut", r.LoadAtCut[0])},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// Targets of the storm scenario, at 15,000 clients: all back and synced
// within 5 s of the kill, and every message delivered exactly once.
func (r StormResult) Targets() []Target {
	back := AtMost("all reconnected and synced", 5, r.SyncedSeconds, UnitSeconds)
	if r.SyncedSeconds < 0 {
		// Some never made it: the wait is a lower bound of the figure.
		back.Value, back.Met = r.WaitSeconds, false
	}
	ts := SizeNote([]Target{back, AtMost("messages lost or duplicated", 0, float64(r.Lost+r.Duplicates), UnitCount)},
		r.Clients, 15000, "clients")
	if r.SyncedSeconds < 0 {
		ts[0].Note = strings.TrimPrefix(ts[0].Note+"; ", "; ") + fmt.Sprintf("%d clients not back or not synced within the wait", int64(r.Clients)-r.Synced.N)
	}
	return ts
}
