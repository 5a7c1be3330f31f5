package drill

// drill.go runs the phases: the cluster and the load come up once, then
// each fault gets its own phase under load (before, the fault, healed,
// after), the sends pause and the phase settles until every accepted
// message reached every recipient; at the end every client syncs to its
// head and the checker compares everything with the database.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
)

// Config configures a drill.
type Config struct {
	Exe       string        // the tether binary the cluster runs
	Target    *Target       // drill this running cluster instead of starting one (target.go)
	Dir       string        // working directory (default: a new temporary one)
	Users     int           // online users, each with one checking client (default 100)
	GroupSize int           // users per group (default 10; every user is in one)
	Rate      float64       // messages per second, all users together (default 40)
	Faults    []string      // fault names; empty: all, or the quick ones with Quick
	Quick     bool          // the quick drill (CI): fewer users, the quick faults, shorter phases
	Before    time.Duration // load before each fault (default 2s)
	Hold      time.Duration // how long a fault lasts (default 6s, quick 5s)
	After     time.Duration // load after the heal (default 3s)
	Settle    time.Duration // bound on a phase's last deliveries (default 30s)
	Heartbeat time.Duration // push nodes' heartbeat (default 2s): a vanished node is noticed after two
	Request   time.Duration // timeout of one REST request (default 5s)
	LogLevel  string        // of the cluster's processes (default warn); their logs are in Dir/logs
	Progress  io.Writer     // a line per step; nil: none
}

func (c *Config) defaults() error {
	if c.Exe == "" && c.Target == nil {
		return errors.New("drill: the tether binary is required")
	}
	if c.Users <= 0 {
		c.Users = 100
		if c.Quick {
			c.Users = 50
		}
	}
	if c.Users < 2 {
		return errors.New("drill: at least 2 users")
	}
	if c.GroupSize <= 0 {
		c.GroupSize = 10
	}
	if c.Rate <= 0 {
		c.Rate = 40
		if c.Quick {
			c.Rate = 25
		}
	}
	if c.Before <= 0 {
		c.Before = 2 * time.Second
	}
	if c.Hold <= 0 {
		c.Hold = 6 * time.Second
		if c.Quick {
			c.Hold = 5 * time.Second
		}
	}
	if c.After <= 0 {
		c.After = 3 * time.Second
		if c.Quick {
			c.After = 2 * time.Second
		}
	}
	if c.Settle <= 0 {
		c.Settle = 30 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.Request <= 0 {
		c.Request = 5 * time.Second
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

func (c Config) progress(format string, args ...any) {
	fmt.Fprintf(c.Progress, "drill: "+format+"\n", args...)
}

// phase is one fault's run.
type phase struct {
	f                       fault
	start, inject, heal     time.Time
	stop, settled, deadline time.Time
	err                     error
}

// Run runs the drill. It returns the report, and an error if the drill
// could not run (a failed drill is a Report with Passed false).
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	if err := cfg.defaults(); err != nil {
		return rep, err
	}
	fs, err := selectFaults(cfg.Faults, cfg.Quick, cfg.Target != nil)
	if err != nil {
		return rep, err
	}
	rep = Report{StartedAt: time.Now().UTC(), Users: cfg.Users, Rate: cfg.Rate, Heartbeat: cfg.Heartbeat.String()}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tether-drill-"); err != nil {
			return rep, err
		}
	}
	defer func() {
		// The database and Redis data go; the logs stay if the drill failed.
		_ = os.RemoveAll(filepath.Join(dir, "db"))
		if err == nil && rep.Passed && cfg.Dir == "" {
			_ = os.RemoveAll(dir)
		} else {
			rep.Dir = dir
		}
	}()
	var c *cluster
	if cfg.Target != nil {
		c, err = targetCluster(ctx, cfg, *cfg.Target)
	} else {
		c, err = startCluster(ctx, cfg, dir)
	}
	if err != nil {
		return rep, err
	}
	defer c.close()

	hc := &http.Client{Timeout: cfg.Request, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
	}}
	users, groups, err := setupUsers(ctx, c, cfg.Users, cfg.GroupSize, hc)
	if err != nil {
		return rep, err
	}
	rep.Groups = len(groups)
	var apis, addrs []string
	for _, a := range c.apis {
		apis = append(apis, a.url)
	}
	for _, n := range c.nodes {
		addrs = append(addrs, n.addr)
	}
	runCtx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopClients(); wg.Wait() }()
	var clients []*client
	for _, u := range users {
		cl := newClient(u, addrs, apis, cfg.Heartbeat, hc)
		clients = append(clients, cl)
		wg.Add(1)
		go func() { defer wg.Done(); cl.run(runCtx) }()
	}
	if err := waitAll(ctx, time.Minute, "every client connected", func() bool {
		for _, u := range users {
			u.mu.Lock()
			n := u.connects
			u.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	}); err != nil {
		return rep, err
	}
	l := newLoad(users, groups, apis, cfg.Rate, hc)
	wg.Add(1)
	go func() { defer wg.Done(); l.run(runCtx); l.inLoop.Wait() }()
	cfg.progress("cluster up: 2 APIs, 2 push nodes, %d users online in %d groups; %d faults", len(users), len(groups), len(fs))

	phases := make([]*phase, len(fs))
	for i, f := range fs {
		p := &phase{f: f}
		phases[i] = p
		for _, cl := range clients {
			cl.goHome()
		}
		if err := waitAll(ctx, 30*time.Second, "every client back on its home node", func() bool {
			for _, cl := range clients {
				if !cl.atHome() {
					return false
				}
			}
			return true
		}); err != nil {
			cfg.progress("%v", err) // the phase runs all the same
		}
		if err := runPhase(ctx, cfg, c, l, i, p); err != nil {
			return rep, err
		}
		cfg.progress("%s: done (%s)", f.name, p.settled.Sub(p.start).Round(100*time.Millisecond))
	}

	// Every client to its head, then the truth.
	t, err := readTruth(ctx, c.dsn, users)
	if err != nil {
		return rep, err
	}
	if err := finalSync(ctx, users, t, apis, cfg, hc); err != nil {
		return rep, err
	}
	stopClients()
	wg.Wait()
	findings := check(t, l)
	rep.Rows = rows(phases, l, findings)
	for _, u := range users {
		rep.Frames += u.frames
		rep.Redelivery += u.redelivered
		rep.Backwards += u.backwards
		rep.SyncPages += u.syncPages.Load()
		rep.Entries += len(t.timelines[u.id])
	}
	rep.Messages = len(t.messages)
	rep.Seconds = time.Since(rep.StartedAt).Seconds()
	rep.LoadAvg = loadgen.LoadAvg()
	rep.verdict()
	for _, f := range findings {
		if f.send == nil && f.kind != "" { // not attributable to a phase
			rep.Violations = append(rep.Violations, f.kind+": "+f.what)
			rep.Passed = false
		}
	}
	return rep, nil
}

// runPhase runs fault i under load and waits for its deliveries.
func runPhase(ctx context.Context, cfg Config, c *cluster, l *load, i int, p *phase) error {
	cfg.progress("%s: %s", p.f.name, p.f.what)
	p.start = time.Now()
	l.phase.Store(int64(i))
	l.sending.Store(true)
	if err := sleep(ctx, cfg.Before); err != nil {
		return err
	}
	p.inject = time.Now()
	if err := p.f.inject(ctx, c); err != nil {
		p.err = err
	}
	p.heal = p.inject
	if p.f.heal != nil {
		if err := sleep(ctx, cfg.Hold); err != nil {
			return err
		}
		p.heal = time.Now()
		if err := p.f.heal(ctx, c); err != nil && p.err == nil {
			p.err = err
		}
	}
	if err := sleep(ctx, cfg.After); err != nil {
		return err
	}
	if err := l.pause(ctx, 2*time.Minute); err != nil {
		return err
	}
	p.stop = time.Now()
	if p.err != nil {
		cfg.progress("%s: %v", p.f.name, p.err)
	}
	// Settle: every accepted message of the phase at all its recipients.
	p.deadline = time.Now().Add(cfg.Settle)
	for {
		if allDelivered(l, i) || time.Now().After(p.deadline) {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	p.settled = time.Now()
	if err := c.alive(); err != nil {
		return fmt.Errorf("drill: after %s: %w", p.f.name, err)
	}
	return nil
}

func allDelivered(l *load, i int) bool {
	for _, s := range l.records() {
		if s.phase != i || s.accepted.IsZero() {
			continue
		}
		if _, ok := deliveredAt(l, s); !ok {
			return false
		}
	}
	return true
}

// deliveredAt is when the last recipient of s had it.
func deliveredAt(l *load, s *sendRec) (time.Time, bool) {
	var last time.Time
	for _, r := range l.recipients(s) {
		at, ok := l.byID[r].received(s.msgID)
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}

// finalSync wakes every client's sync and waits until each has its head.
func finalSync(ctx context.Context, users []*user, t *truth, apis []string, cfg Config, hc *http.Client) error {
	for _, u := range users {
		if u.watermark() < t.heads[u.id] {
			cl := newClient(u, nil, apis, cfg.Heartbeat, hc)
			for try := 0; u.watermark() < t.heads[u.id]; try++ {
				if err := cl.syncOnce(ctx, apis[try%len(apis)]); err != nil && try > 20 {
					return fmt.Errorf("drill: final sync of user %d: %w", u.id, err)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

func waitAll(ctx context.Context, bound time.Duration, what string, done func() bool) error {
	deadline := time.Now().Add(bound)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("drill: not %s within %s", what, bound)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
