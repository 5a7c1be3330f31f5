package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/token"
)

// Stack says which API and push node the persisted scenarios (chat,
// frames, storm) use. With APIURL empty the run starts its own: a fresh
// MySQL database it creates and migrates (`tether migrate`), `tether api`
// and one `tether push`, as child processes on free loopback ports, and
// drops the database at the end. Otherwise it targets the running ones the
// fields describe.
type Stack struct {
	APIURL    string // REST base URL of a running API, e.g. http://127.0.0.1:8080
	APIAdmin  string // its admin address (/metrics, /debug/pprof)
	APIPID    int    // its process id (/proc figures; optional)
	PushAddr  string // TCP address of a running push node
	PushAdmin string // its admin address (/readyz)
	PushPID   int    // its process id (/proc figures; the storm kills and restarts it)
	KeyFile   string // token private key of the running cluster (storm mints access tokens)
	MySQLDSN  string // database of the running cluster (storm inserts its users)

	Exe         string   // binary started as migrate, api and push
	Env         []string // base environment of the started processes
	MySQLServer string   // server a started stack creates its database on (default root@tcp(127.0.0.1:3306)/)
	RedisAddr   string   // default 127.0.0.1:6379
	Prefix      string   // Redis key prefix (default: a fresh one for a started stack)
	Heartbeat   time.Duration
	Stderr      io.Writer // the children's logs on failure
	// Switches are set in a started stack's database and Redis before its
	// processes start, each as {name, value} (e.g. heartbeat_acks on); a
	// running cluster keeps its own.
	Switches [][2]string
}

// protocol says how the stack's push clients ack, for the reports.
func (s Stack) protocol() string {
	for _, sw := range s.Switches {
		if sw[0] == "heartbeat_acks" && sw[1] == "on" {
			return "version 2 (heartbeat_acks on: acks on heartbeats)"
		}
	}
	return "version 1 (heartbeat_acks off: Ack and PushAck frames)"
}

// child is a process the run started (or found) and can measure.
type child struct {
	name      string
	pid       int
	adminAddr string
	args      []string // to start it again
	env       []string
	cmd       *exec.Cmd // nil for a running process the run did not start
	log       *tailWriter
	exited    chan error
	readyFn   func(context.Context) error // instead of /readyz (a database, Redis); process.go
	logPath   string                      // log to this file instead of log (process.go)
}

// apiStack is a started or targeted API and push node.
type apiStack struct {
	cfg      Stack
	apiURL   string
	api      *child
	push     *child
	pushAddr string
	key      ed25519.PrivateKey // signs access tokens (nil for a running cluster without KeyFile)
	dsn      string             // MySQL database (empty for a running cluster without MySQLDSN)
	dbName   string             // set when the run created the database
	nodeID   string
}

func (s *Stack) defaults() {
	if s.MySQLServer == "" {
		s.MySQLServer = "root@tcp(127.0.0.1:3306)/"
	}
	if s.RedisAddr == "" {
		s.RedisAddr = "127.0.0.1:6379"
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 30 * time.Second
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}
}

// startStack starts (or describes) the API and the push node. The caller
// must close it.
func startStack(ctx context.Context, cfg Stack) (_ *apiStack, err error) {
	cfg.defaults()
	s := &apiStack{cfg: cfg}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if cfg.APIURL != "" {
		return s, s.describe(ctx)
	}
	if cfg.Exe == "" {
		return nil, errors.New("loadgen: the tether executable is required to start a stack")
	}
	if s.cfg.Prefix == "" {
		s.cfg.Prefix = "bench-" + randHex(4) + ":"
	}
	pub, priv, err := token.GenerateKey()
	if err != nil {
		return nil, err
	}
	s.key = priv
	if s.dsn, s.dbName, err = createDatabase(ctx, cfg.MySQLServer); err != nil {
		return nil, err
	}
	mig := exec.CommandContext(ctx, cfg.Exe, "migrate", "--mysql", s.dsn)
	mig.Env = cfg.Env
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("loadgen: tether migrate: %w\n%s", err, out)
	}
	for _, sw := range cfg.Switches {
		set := exec.CommandContext(ctx, cfg.Exe, "switch", "set", sw[0], sw[1], "--reason", "bench",
			"--mysql", s.dsn, "--redis-addr", cfg.RedisAddr, "--redis-prefix", s.cfg.Prefix)
		set.Env = cfg.Env
		if out, err := set.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("loadgen: tether switch set %s %s: %w\n%s", sw[0], sw[1], err, out)
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	common := []string{
		"TETHER_REDIS_ADDR=" + cfg.RedisAddr,
		"TETHER_REDIS_PREFIX=" + s.cfg.Prefix,
		// A log line per request or session would dominate the processes'
		// CPU; warnings still show.
		"TETHER_LOG_LEVEL=warn",
	}
	s.apiURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	apiEnv := append(append(append([]string(nil), cfg.Env...), common...),
		"TETHER_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(ports[0]),
		"TETHER_ADMIN_ADDR=127.0.0.1:"+strconv.Itoa(ports[1]),
		"TETHER_MYSQL_DSN="+s.dsn,
		"TETHER_TOKEN_PRIVATE_KEY="+token.EncodePrivate(priv),
		"TETHER_ACCESS_TTL=2h",
		// The benches measure throughput: a sender may exceed a person's send rate.
		"TETHER_SEND_RATE=0",
		// They measure throughput, not shedding: a burst of logins or sends
		// waits for a worker of its business instead of being refused with
		// 503 overloaded at the default queue's edge (same workers, so the
		// same connection shares). The send pool has a worker for every
		// request the senders keep in flight (2 x 128): a send holds its
		// worker while it waits for its group commit's batch (about 3 ms
		// of window and a transaction, 10-20 ms on a loaded machine), so
		// 16 workers capped the bench near 16 / 20 ms = 800 msgs/s with
		// the API at 44% of a core. Waiting sends hold no database
		// connection: a batch takes one.
		"TETHER_BULKHEADS=send=256/8192,group_send=8/2048,sync=12/8192,push_api=8/8192,broadcast=2/256,webhook=8/0,relay=1/0,other=12/8192",
		"TETHER_BULKHEAD_WAIT=30s",
	)
	if s.api, err = startChild(ctx, "api", cfg.Exe, []string{"api"}, apiEnv, "127.0.0.1:"+strconv.Itoa(ports[1])); err != nil {
		return nil, err
	}
	s.pushAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	s.nodeID = "bench-" + strconv.Itoa(os.Getpid())
	pushEnv := append(append(append([]string(nil), cfg.Env...), common...),
		"TETHER_NODE_ID="+s.nodeID,
		"TETHER_TCP_ADDR="+s.pushAddr,
		"TETHER_ADMIN_ADDR=127.0.0.1:"+strconv.Itoa(ports[3]),
		"TETHER_TOKEN_PUBLIC_KEY="+token.EncodePublic(pub),
		"TETHER_HEARTBEAT_INTERVAL="+cfg.Heartbeat.String(),
		"TETHER_IDLE_TIMEOUT="+(cfg.Heartbeat*5/2).String(),
		// Stopping at the end of a run need not take the production drain.
		"TETHER_DRAIN_WINDOW=1s",
		"TETHER_SHUTDOWN_TIMEOUT=5s",
	)
	if s.push, err = startChild(ctx, "push", cfg.Exe, []string{"push"}, pushEnv, "127.0.0.1:"+strconv.Itoa(ports[3])); err != nil {
		return nil, err
	}
	return s, nil
}

// describe fills s from the flags of a running cluster.
func (s *apiStack) describe(ctx context.Context) error {
	c := s.cfg
	if c.PushAddr == "" {
		return errors.New("loadgen: a running API needs --push (the push node's TCP address)")
	}
	s.apiURL, s.pushAddr, s.dsn = strings.TrimRight(c.APIURL, "/"), c.PushAddr, c.MySQLDSN
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return err
		}
		if s.key, err = token.ParsePrivate(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("loadgen: %s: %w", c.KeyFile, err)
		}
	}
	s.api = &child{name: "api", pid: c.APIPID, adminAddr: c.APIAdmin}
	s.push = &child{name: "push", pid: c.PushPID, adminAddr: c.PushAdmin}
	if c.PushPID > 0 {
		// Read how it was started, so the storm can start it again.
		var err error
		if s.push.args, s.push.env, err = procCommand(c.PushPID); err != nil {
			return err
		}
	}
	for _, c := range []*child{s.api, s.push} {
		if c.adminAddr != "" {
			if err := c.ready(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteKeys removes every Redis key under prefix.
func deleteKeys(addr, prefix string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			rdb.Del(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Del(ctx, batch...)
	}
}

// createDatabase creates a fresh database on server and returns its DSN.
func createDatabase(ctx context.Context, server string) (dsn, name string, err error) {
	db, err := sql.Open("mysql", server)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	name = "bench_" + randHex(6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", "", fmt.Errorf("loadgen: create database on %s: %w", server, err)
	}
	mc, err := mysql.ParseDSN(server)
	if err != nil {
		return "", "", err
	}
	mc.DBName = name
	return mc.FormatDSN(), name, nil
}

// dropDatabase removes a database the run created.
func dropDatabase(server, name string) error {
	db, err := sql.Open("mysql", server)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	return err
}

// close stops the started processes, drops the database and the run's
// Redis keys.
func (s *apiStack) close() {
	for _, c := range []*child{s.push, s.api} {
		if c != nil {
			if err := c.stop(); err != nil {
				fmt.Fprintln(s.cfg.Stderr, err)
			}
		}
	}
	if s.dbName != "" {
		if err := dropDatabase(s.cfg.MySQLServer, s.dbName); err != nil {
			fmt.Fprintln(s.cfg.Stderr, "loadgen: drop database:", err)
		}
	}
	if s.cfg.APIURL == "" && s.cfg.Prefix != "" {
		deleteKeys(s.cfg.RedisAddr, s.cfg.Prefix)
	}
}

// startChild starts exe with args and env and waits until adminAddr
// answers /readyz.
func startChild(ctx context.Context, name, exe string, args, env []string, adminAddr string) (*child, error) {
	c := &child{name: name, adminAddr: adminAddr, args: append([]string{exe}, args...), env: env}
	return c, c.start(ctx)
}

func (c *child) start(ctx context.Context) error {
	c.log = &tailWriter{max: 64 << 10}
	c.exited = make(chan error, 1)
	cmd := exec.Command(c.args[0], c.args[1:]...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = c.log, c.log
	logFile, err := c.openLog()
	if err != nil {
		return err
	}
	if logFile != nil {
		defer logFile.Close() // the process has its own copy
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("loadgen: start %s: %w", c.name, err)
	}
	c.cmd, c.pid = cmd, cmd.Process.Pid
	go func() { c.exited <- cmd.Wait() }()
	if err := c.ready(ctx); err != nil {
		_ = c.stop()
		return err
	}
	return nil
}

// ready polls /readyz for up to 30s.
func (c *child) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if c.readyFn != nil {
			if c.readyFn(ctx) == nil {
				return nil
			}
		} else {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.adminAddr+"/readyz", nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if err := c.alive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadgen: %s at %s not ready: %w", c.name, c.adminAddr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// alive reports an error if a started process has exited.
func (c *child) alive() error {
	if c.cmd == nil {
		return nil
	}
	select {
	case err := <-c.exited:
		c.exited <- err
		return fmt.Errorf("loadgen: %s exited (%v):\n%s", c.name, err, c.logTail())
	default:
		return nil
	}
}

// kill ends the process with SIGKILL and waits for it: a crash, as the
// storm wants it.
func (c *child) kill() error {
	if c.cmd == nil {
		if c.pid <= 0 {
			return fmt.Errorf("loadgen: the pid of the running %s is needed to kill it", c.name)
		}
		p, err := os.FindProcess(c.pid)
		if err != nil {
			return err
		}
		if err := p.Signal(syscall.SIGKILL); err != nil {
			return err
		}
		// Not our child: wait until it is gone (or a zombie its parent
		// has yet to reap).
		for syscall.Kill(c.pid, 0) == nil && !zombie(c.pid) {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	_ = c.cmd.Process.Kill()
	err := <-c.exited
	c.exited <- err
	return nil
}

// stop ends a started process with SIGTERM, then SIGKILL after 30s.
func (c *child) stop() error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		c.exited <- err
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return fmt.Errorf("loadgen: %s did not stop on SIGTERM; killed", c.name)
	}
}

// procCommand reads the command line and environment of a running
// process, so that it can be started again the same way.
func procCommand(pid int) (args, env []string, err error) {
	split := func(b []byte) []string {
		var out []string
		for _, p := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			out = append(out, string(p))
		}
		return out
	}
	a, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, nil, err
	}
	e, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return nil, nil, err
	}
	if args = split(a); len(args) == 0 || args[0] == "" {
		return nil, nil, fmt.Errorf("loadgen: process %d has no command line", pid)
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		args[0] = exe
	}
	return args, split(e), nil
}

// scrapeCalls reads the API's /metrics and returns the seconds and calls
// of each layer of tether_call_seconds (shared/metrics).
func scrapeCalls(ctx context.Context, adminAddr string) (map[string]LayerTime, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: /metrics: %s", resp.Status)
	}
	out := map[string]LayerTime{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sum := strings.HasPrefix(line, "tether_call_seconds_sum{")
		count := strings.HasPrefix(line, "tether_call_seconds_count{")
		if !sum && !count {
			continue
		}
		_, rest, _ := strings.Cut(line, `layer="`)
		layer, _, ok := strings.Cut(rest, `"`)
		sp := strings.LastIndexByte(line, ' ')
		if !ok || sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		lt := out[layer]
		if sum {
			lt.Seconds += v
		} else {
			lt.Calls += v
		}
		out[layer] = lt
	}
	return out, sc.Err()
}

// LayerTime is the time spent in one layer of shared/metrics.
type LayerTime struct {
	Seconds float64 `json:"seconds"`
	Calls   float64 `json:"calls"`
}

// procSample is a process's CPU time and RSS at one moment.
type procSample struct {
	at  time.Time
	cpu time.Duration
	rss int64
}

func sampleProc(pid int) procSample {
	s := procSample{at: time.Now()}
	if pid > 0 {
		s.cpu, _ = CPUTime(pid)
		s.rss, _ = RSS(pid)
	}
	return s
}

// dependencyPIDs finds the processes of the MySQL server and Redis the
// stack uses, by their listening ports (0 for one not found, such as a
// server on another machine).
func (s *apiStack) dependencyPIDs() (mysqlPID, redisPID int) {
	dsn := s.dsn
	if dsn == "" {
		dsn = s.cfg.MySQLServer
	}
	if c, err := mysql.ParseDSN(dsn); err == nil && c.Net == "tcp" {
		mysqlPID = ListenerPID(c.Addr)
	}
	return mysqlPID, ListenerPID(s.cfg.RedisAddr)
}

// ProcFigures are a server process's figures over a window, from /proc.
type ProcFigures struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	RSSBytes   int64   `json:"rss_bytes"`   // at the end of the window
}

func procDelta(a, b procSample) ProcFigures {
	f := ProcFigures{CPUSeconds: (b.cpu - a.cpu).Seconds(), RSSBytes: b.rss}
	if d := b.at.Sub(a.at).Seconds(); d > 0 {
		f.CPUPercent = 100 * f.CPUSeconds / d
	}
	return f
}

// LoadAvg is the machine's load average over 1, 5 and 15 minutes, from
// /proc/loadavg: the machine is shared, and a figure means little without it.
func LoadAvg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(b), &l[0], &l[1], &l[2])
	}
	return l
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
