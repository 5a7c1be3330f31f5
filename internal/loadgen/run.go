// Package loadgen measures a push node under many real client connections:
// `tether bench idle` (memory per idle connection, connect rate, idle CPU)
// and `tether bench broadcast` (broadcast deliveries per second). The node
// runs in its own process and the clients are spread over several worker
// processes (re-executions of the same binary, `tether bench-worker`), so
// that no process holds more than a few thousand sockets and the node's
// /proc figures contain only the node. Everything stays on loopback and
// every run is bounded in connections and time.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// EnvWorkerKey is the environment variable that hands the token private key
// to worker processes.
const EnvWorkerKey = "TETHER_BENCH_PRIVATE_KEY"

// MaxConnections bounds one run; MaxPerWorker bounds one worker process,
// well below the 20,000 open files a process may hold here.
const (
	MaxConnections = 60000
	MaxPerWorker   = 8000
)

// Config is shared by every run.
type Config struct {
	N         int           // connections (one user and device each)
	Workers   int           // worker processes (default: enough for MaxPerWorker each, at least 2)
	Platform  string        // session platform (default "desktop")
	Server    Server        // the node to measure
	Worker    WorkerArgs    // how to start workers
	RedisAddr string        // Redis of the node (default 127.0.0.1:6379)
	Prefix    string        // Redis key prefix (default: a fresh "bench-<hex>:" when the run starts its node)
	Timeout   time.Duration // bound of the whole run (default 10m)
	Stderr    io.Writer     // workers' errors and the node's log on failure (default io.Discard)
}

// session is a run in progress: a node, Redis and the worker processes
// connected so far.
type session struct {
	cfg     Config
	rdb     *redis.Client
	streams *stream.Redis // where the run publishes jobs, as the API would
	node    *node
	fleets  []*fleet
	changed chan struct{} // a worker wrote a status line
	workers int           // worker processes started so far
	ownKeys bool          // the prefix is the run's own: delete its keys at the end

	baseline    MemoryStats
	baselineRSS int64
}

func (c *Config) defaults() error {
	if c.N <= 0 || c.N > MaxConnections {
		return fmt.Errorf("loadgen: connections must be 1..%d, got %d", MaxConnections, c.N)
	}
	if c.Workers <= 0 {
		c.Workers = max(2, (c.N+MaxPerWorker-1)/MaxPerWorker)
	}
	if c.Workers > c.N {
		c.Workers = c.N
	}
	if (c.N+c.Workers-1)/c.Workers > MaxPerWorker {
		return fmt.Errorf("loadgen: %d connections over %d workers is over %d per worker process", c.N, c.Workers, MaxPerWorker)
	}
	if c.Platform == "" {
		c.Platform = "desktop"
	}
	if c.RedisAddr == "" {
		c.RedisAddr = "127.0.0.1:6379"
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.Worker.Exe == "" || (c.Server.PushAddr == "" && c.Server.Exe == "") {
		return errors.New("loadgen: the executables of the workers and the node are required")
	}
	return nil
}

// open starts (or finds) the node and takes its baseline. The caller must
// close the session.
func open(ctx context.Context, cfg Config) (_ *session, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, changed: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.cfg.Prefix == "" {
		if cfg.Server.PushAddr != "" {
			return nil, errors.New("loadgen: measuring a running node needs its Redis prefix")
		}
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		s.cfg.Prefix, s.ownKeys = "bench-"+hex.EncodeToString(b)+":", true
	}
	s.rdb = redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	s.streams = stream.NewRedis(s.rdb, s.cfg.Prefix, stream.Caps{})
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("loadgen: redis at %s: %w", cfg.RedisAddr, err)
	}
	if s.node, err = startNode(ctx, cfg.Server, cfg.RedisAddr, s.cfg.Prefix); err != nil {
		return nil, err
	}
	if s.baseline, err = s.node.memory(ctx, true); err != nil {
		return nil, err
	}
	if s.baselineRSS, err = RSS(s.node.pid); err != nil {
		return nil, err
	}
	return s, nil
}

// connect opens the connections of the n users from uid first on, over
// the configured number of new worker processes, and returns how long that
// took: from the first worker's first dial to the last Welcome, so neither
// the workers' process start nor their status-line interval counts. Every
// connection must complete its handshake.
func (s *session) connect(ctx context.Context, first int64, n int) (time.Duration, error) {
	start := time.Now()
	shares := split(s.workers, first, n, min(s.cfg.Workers, n))
	f, err := startFleet(s.cfg.Worker, s.node.pushAddr, token.EncodePrivate(s.node.key), s.cfg.Platform, shares, s.changed, s.cfg.Stderr)
	if err != nil {
		return 0, err
	}
	s.fleets, s.workers = append(s.fleets, f), s.workers+len(shares)
	want := s.connections() + int64(n)
	t, err := s.wait(ctx, "connections", func(t Status) bool { return t.Dialed && t.Connected+t.Failed >= want })
	if err != nil {
		return 0, err
	}
	if t.Failed > 0 {
		return 0, fmt.Errorf("loadgen: %d of %d connections failed; first error: %s", t.Failed, want, t.FirstError)
	}
	d := time.Since(start)
	if ft, _ := f.total(Status{}); ft.FirstDialNS > 0 && ft.LastConnectNS > ft.FirstDialNS {
		d = time.Duration(ft.LastConnectNS - ft.FirstDialNS)
	}
	return d, s.node.alive()
}

// connections is the number of handshakes completed before the newest fleet.
func (s *session) connections() int64 {
	var n int64
	for _, f := range s.fleets[:len(s.fleets)-1] {
		t, _ := f.total(Status{})
		n += t.Connected
	}
	return n
}

// total sums the latest status of every worker of every fleet.
func (s *session) total() (Status, error) {
	t := Status{Dialed: true}
	var exited error
	for _, f := range s.fleets {
		var err error
		if t, err = f.total(t); err != nil && exited == nil {
			exited = err
		}
	}
	return t, exited
}

// wait blocks until done(total) holds, a worker exits, or ctx ends.
func (s *session) wait(ctx context.Context, what string, done func(Status) bool) (Status, error) {
	for {
		t, exited := s.total()
		if done(t) {
			return t, nil
		}
		if exited != nil {
			return t, exited
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return t, fmt.Errorf("loadgen: waiting for %s: %w (status %+v)", what, ctx.Err(), t)
		}
	}
}

// healthy fails if any connection was lost or the node exited.
func (s *session) healthy() error {
	t, exited := s.total()
	if exited != nil {
		return exited
	}
	if t.Closed > 0 {
		return fmt.Errorf("loadgen: %d connections were closed by the node; first error: %s", t.Closed, t.FirstError)
	}
	return s.node.alive()
}

// close stops the workers and a started node and removes the run's keys.
func (s *session) close() {
	for _, f := range s.fleets {
		if err := f.stop(); err != nil {
			fmt.Fprintln(s.cfg.Stderr, err)
		}
	}
	if s.node != nil {
		if err := s.node.stop(); err != nil {
			fmt.Fprintln(s.cfg.Stderr, err)
		}
	}
	if s.rdb != nil {
		if s.ownKeys {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			iter := s.rdb.Scan(ctx, 0, s.cfg.Prefix+"*", 1000).Iterator()
			var batch []string
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == 1000 {
					s.rdb.Del(ctx, batch...)
					batch = batch[:0]
				}
			}
			if len(batch) > 0 {
				s.rdb.Del(ctx, batch...)
			}
			cancel()
		}
		_ = s.rdb.Close()
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
