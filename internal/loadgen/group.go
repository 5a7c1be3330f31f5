package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
)

// The group scenario (issue 5): one group of Members users, Online of them
// connected on push/client in receiver processes; Messages group messages
// are sent over REST at Rate a second. It reports the accept latency of
// each send (the REST round trip: one transaction writes an entry in every
// member's timeline) and, per message, the time from the start of its send
// until the last online member has it.

const roleGroupRecv = "group-recv"

// GroupConfig configures RunGroup.
type GroupConfig struct {
	Stack     Stack
	Worker    WorkerArgs
	Members   int           // the group's size, owner included (default 2000)
	Online    int           // members connected (default 500)
	Receivers int           // receiver processes (default 2)
	Messages  int           // group messages sent (default 50)
	Rate      float64       // messages a second (default 5)
	Grace     time.Duration // how long after the last send deliveries may still arrive (default 10s)
	Timeout   time.Duration // bound of the whole run (default 10m)
	Stderr    io.Writer
}

// GroupResult is the outcome of RunGroup.
type GroupResult struct {
	Members   int         `json:"members"`
	Online    int         `json:"online"`
	Receivers int         `json:"receivers"`
	Messages  int         `json:"messages"`
	Rate      float64     `json:"rate"`
	SetupSecs float64     `json:"setup_secs"`
	Accepted  int         `json:"accepted"`
	Failed    int         `json:"failed"`
	Accept    Latency     `json:"accept"`      // REST round trip of each send
	AllOnline Latency     `json:"all_online"`  // per message: send start -> the last online member has it
	EachOne   Latency     `json:"each_online"` // every (message, online member) delivery
	Complete  int         `json:"complete"`    // messages every online member got
	Missing   int64       `json:"missing"`     // (message, online member) deliveries that never came
	Dupes     int64       `json:"duplicates"`  // deliveries of a message a client had already
	API       ProcFigures `json:"api_process"` // the API's CPU during the sends
	LoadStart [3]float64  `json:"load_start"`  //
	LoadEnd   [3]float64  `json:"load_end"`    //
	FirstErr  string      `json:"first_error,omitempty"`
}

type groupRecvConfig struct {
	APIBase  string      `json:"api_base"`
	PushAddr string      `json:"push_addr"`
	Password string      `json:"password"`
	Users    []benchUser `json:"users"`
}

// groupRecvFinal is a receiver process's figures: per message id how many
// of its clients have it and when the last one got it.
type groupRecvFinal struct {
	Got        map[int64]int   `json:"got"`     // message id -> clients that have it
	LastNS     map[int64]int64 `json:"last_ns"` // message id -> the last arrival (unix ns)
	Each       Hist            `json:"each"`    // every delivery's latency
	Duplicates int64           `json:"duplicates"`
}

func (c *GroupConfig) defaults() error {
	if c.Members == 0 {
		c.Members = tether.MaxGroupMembers
	}
	if c.Online == 0 {
		c.Online = min(500, c.Members)
	}
	if c.Receivers == 0 {
		c.Receivers = 2
	}
	if c.Messages == 0 {
		c.Messages = 50
	}
	if c.Rate == 0 {
		c.Rate = 5
	}
	if c.Grace == 0 {
		c.Grace = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	switch {
	case c.Members < 2 || c.Members > tether.MaxGroupMembers:
		return fmt.Errorf("loadgen: group: --members must be 2 to %d", tether.MaxGroupMembers)
	case c.Online < 1 || c.Online > c.Members:
		return errors.New("loadgen: group: --online must be 1 to --members")
	case c.Receivers < 1 || c.Messages < 1 || c.Rate <= 0:
		return errors.New("loadgen: group: --receivers, --messages and --rate must be positive")
	}
	return nil
}

// RunGroup runs the group scenario.
func RunGroup(ctx context.Context, cfg GroupConfig) (res GroupResult, err error) {
	if err := cfg.defaults(); err != nil {
		return GroupResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res = GroupResult{Members: cfg.Members, Online: cfg.Online, Receivers: cfg.Receivers, Messages: cfg.Messages, Rate: cfg.Rate}
	setup := time.Now()
	st, err := startStack(ctx, cfg.Stack)
	if err != nil {
		return res, err
	}
	defer st.close()
	if st.dsn == "" {
		return res, errors.New("loadgen: group: a running cluster needs --mysql (its users are inserted)")
	}
	// Members are inserted with a registered user's password hash, like the
	// storm's: 2,000 argon2 registrations would take minutes of CPU.
	users, _, err := createStormUsers(ctx, st, "g"+randHex(3), cfg.Members, 0)
	if err != nil {
		return res, err
	}
	a := client.NewAPI(st.apiURL, benchHTTPClient(4))
	owner, err := a.Login(ctx, users[0].Name, benchPassword, "bench-owner", "server")
	if err != nil {
		return res, fmt.Errorf("loadgen: group: owner login: %w", err)
	}
	ids := make([]int64, 0, len(users)-1)
	for _, u := range users[1:] {
		ids = append(ids, u.ID)
	}
	gid, err := createGroup(ctx, st.apiURL, owner.AccessToken, ids)
	if err != nil {
		return res, err
	}
	// The online members are spread over the group (the owner, who sends,
	// is not among them).
	online := make([]benchUser, 0, cfg.Online)
	for i := range cfg.Online {
		online = append(online, users[1+i*(cfg.Members-1)/cfg.Online])
	}
	var cfgs []any
	for _, sh := range split(0, 0, cfg.Online, cfg.Receivers) {
		cfgs = append(cfgs, groupRecvConfig{APIBase: st.apiURL, PushAddr: st.pushAddr, Password: benchPassword,
			Users: online[sh.first : sh.first+int64(sh.count)]})
	}
	recv, err := startCrew(cfg.Worker, roleGroupRecv, cfgs, cfg.Stderr)
	if err != nil {
		return res, err
	}
	defer recv.stop()
	if _, err := recv.gather(ctx, "ready", 0); err != nil {
		return res, err
	}
	res.SetupSecs = time.Since(setup).Seconds()
	res.LoadStart = LoadAvg()
	defer func() { res.LoadEnd = LoadAvg() }()
	fmt.Fprintf(cfg.Stderr, "group: %d members, %d online in %d processes, set up in %.1fs; sending %d messages at %.1f/s\n",
		cfg.Members, cfg.Online, cfg.Receivers, res.SetupSecs, cfg.Messages, cfg.Rate)

	// Send at the pace: message k is due at start + k/rate, one at a time
	// so each accept latency is one transaction's, not a queue's.
	sentNS := map[int64]int64{}
	var accept Hist
	apiBefore := sampleProc(st.api.pid)
	start := time.Now()
	for k := range cfg.Messages {
		due := start.Add(time.Duration(float64(k) / cfg.Rate * float64(time.Second)))
		if err := sleepCtx(ctx, time.Until(due)); err != nil {
			return res, err
		}
		t0 := time.Now()
		content, _ := json.Marshal(chatContent{Text: "group bench", SentNS: t0.UnixNano(), Step: 1})
		msg, _, err := a.SendToGroup(ctx, owner.AccessToken, gid, "g"+strconv.Itoa(k), tether.MessageCustom, content)
		if err != nil {
			res.Failed++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
			continue
		}
		accept.Add(time.Since(t0))
		sentNS[msg.ID] = t0.UnixNano()
		res.Accepted++
	}
	res.API = procDelta(apiBefore, sampleProc(st.api.pid))
	res.Accept = accept.Summary()

	// Wait until every online member has every message, or the grace ends.
	var finals []groupRecvFinal
	deadline := time.Now().Add(cfg.Grace)
	for {
		if finals, err = groupFinals(ctx, recv); err != nil {
			return res, err
		}
		if groupComplete(finals, sentNS, cfg.Online) || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return res, err
		}
	}
	var all, each Hist
	for id, at := range sentNS {
		got, last := 0, int64(0)
		for _, f := range finals {
			got += f.Got[id]
			last = max(last, f.LastNS[id])
		}
		res.Missing += int64(cfg.Online - got)
		if got >= cfg.Online {
			res.Complete++
			all.Add(time.Duration(last - at))
		}
	}
	for _, f := range finals {
		each.Merge(f.Each)
		res.Dupes += f.Duplicates
	}
	res.AllOnline, res.EachOne = all.Summary(), each.Summary()
	if err := st.api.alive(); err != nil {
		return res, err
	}
	return res, st.push.alive()
}

// createGroup creates the bench group over REST and returns its id.
func createGroup(ctx context.Context, apiBase, access string, members []int64) (int64, error) {
	body, err := json.Marshal(map[string]any{"name": "bench", "member_ids": members})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiBase+"/v1/groups", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := benchHTTPClient(1).Do(req)
	if err != nil {
		return 0, fmt.Errorf("loadgen: create group: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("loadgen: create group: %s: %s", resp.Status, raw)
	}
	var g tether.Group
	if err := json.Unmarshal(raw, &g); err != nil {
		return 0, fmt.Errorf("loadgen: create group: %w", err)
	}
	return g.ID, nil
}

// groupFinals asks every receiver what it has.
func groupFinals(ctx context.Context, recv *crew) ([]groupRecvFinal, error) {
	if err := recv.send(Command{Cmd: "final"}); err != nil {
		return nil, err
	}
	bodies, err := recv.gather(ctx, "final", 0)
	if err != nil {
		return nil, err
	}
	out := make([]groupRecvFinal, len(bodies))
	for i, b := range bodies {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupComplete reports whether every online member has every sent message.
func groupComplete(finals []groupRecvFinal, sent map[int64]int64, online int) bool {
	for id := range sent {
		got := 0
		for _, f := range finals {
			got += f.Got[id]
		}
		if got < online {
			return false
		}
	}
	return true
}

// runGroupReceiver keeps one push/client per online member connected and
// records, per bench message, how many of its clients have it and when the
// last one got it.
func runGroupReceiver(ctx context.Context, w *roleWorker, raw []byte) error {
	var cfg groupRecvConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if len(cfg.Users) == 0 {
		return errors.New("loadgen: group receiver needs users")
	}
	var mu sync.Mutex
	fin := groupRecvFinal{Got: map[int64]int{}, LastNS: map[int64]int64{}}
	seen := make([]map[int64]bool, len(cfg.Users))
	hc := benchHTTPClient(64)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	clients := make([]*client.Client, len(cfg.Users))
	for i, u := range cfg.Users {
		seen[i] = map[int64]bool{}
		clients[i] = client.New(client.Config{
			APIBase: cfg.APIBase, PushAddr: cfg.PushAddr,
			Username: u.Name, Password: cfg.Password,
			DeviceID: "bench-" + strconv.FormatInt(u.ID, 10), Platform: "desktop", AppVersion: "bench",
			HTTPClient: hc, Logger: logger,
			Handler: func(e tether.Entry) {
				now := time.Now()
				if e.Message == nil || e.Message.GroupID == 0 {
					return
				}
				var c chatContent
				if json.Unmarshal(e.Message.Content, &c) != nil || c.Step == 0 {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[i][e.Message.ID] {
					fin.Duplicates++
					return
				}
				seen[i][e.Message.ID] = true
				fin.Got[e.Message.ID]++
				fin.LastNS[e.Message.ID] = max(fin.LastNS[e.Message.ID], now.UnixNano())
				fin.Each.Add(now.Sub(time.Unix(0, c.SentNS)))
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
		if c.Cmd != "final" {
			continue
		}
		mu.Lock()
		body, err := json.Marshal(fin)
		mu.Unlock()
		if err != nil {
			return err
		}
		if err := w.emit("final", 0, json.RawMessage(body)); err != nil {
			return err
		}
	}
}

// WriteGroupTable prints r for people.
func WriteGroupTable(w io.Writer, r GroupResult) error {
	fmt.Fprintf(w, "group: %d members, %d online (push/client) in %d processes, %d messages at %.1f/s, setup %.1fs, load average %.1f -> %.1f\n",
		r.Members, r.Online, r.Receivers, r.Messages, r.Rate, r.SetupSecs, r.LoadStart[0], r.LoadEnd[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tn\tp50 ms\tp99 ms\tmax ms\t")
	for _, row := range []struct {
		name string
		l    Latency
	}{{"accept (REST send)", r.Accept}, {"all online have it", r.AllOnline}, {"each delivery", r.EachOne}} {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", row.name, row.l.N, row.l.P50, row.l.P99, row.l.Max)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "accepted %d, failed %d, complete %d, missing deliveries %d, duplicates %d, API CPU %.0f%%\n",
		r.Accepted, r.Failed, r.Complete, r.Missing, r.Dupes, r.API.CPUPercent)
	if r.FirstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstErr)
	}
	return err
}

// Targets of the group scenario (issue 5): with 2,000 members and 500
// online, accept p99 <= 100 ms, all online members have a message p99 <=
// 200 ms, and nothing is lost.
func (r GroupResult) Targets() []Target {
	return []Target{
		AtMost("accept p99", 0.1, r.Accept.P99/1000, UnitSeconds),
		AtMost("all online members have it, p99", 0.2, r.AllOnline.P99/1000, UnitSeconds),
		AtMost("deliveries missing or failed sends", 0, float64(r.Missing)+float64(r.Failed), UnitCount),
	}
}
