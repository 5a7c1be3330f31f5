package drill

// drill.go runs the phases: the cluster and the load come up once, then
// each fault gets its own phase under load (before, the fault, healed,
// after), the sends pause and the phase settles until every accepted
// message reached every recipient; at the end every client syncs to its
// head and the checker compares everything with the database.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
)

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

// finalSync wakes every client's sync and waits until each has its head.
func finalSync(ctx context.Context, users []*user, t *truth, apis []string, cfg Config, hc *http.Client) error {
	for _, u := range users {
		cl := newClient(u, nil, apis, cfg.Heartbeat, hc)
		for try := 0; u.watermark() < t.heads[u.id]; try++ {
			err := cl.syncOnce(ctx, apis[try%len(apis)])
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if try == 20 {
				// The checker reports what this user is missing.
				cfg.progress("final sync of user %d stops at version %d of %d: %v", u.id, u.watermark(), t.heads[u.id], err)
				break
			}
			if err != nil {
				if err := sleep(ctx, 200*time.Millisecond); err != nil {
					return err
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
