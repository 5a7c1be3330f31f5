package loadgen

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetherim/tether/shared/token"
)

// Server says which push node a run measures. With PushAddr empty the run
// starts its own node (Exe Args, normally `tether push`) on free loopback
// ports; otherwise it measures the running node described by the fields.
type Server struct {
	PushAddr  string // client TCP address of a running node
	AdminAddr string // its admin address (for /debug/memory)
	PID       int    // its process id (for /proc RSS and CPU)
	NodeID    string // its node id (for its job stream); for a started node, the id to give it (default bench-<pid>)
	KeyFile   string // file with the token private key (base64 seed) the node's public key matches

	Exe  string   // binary to start a node with
	Args []string // e.g. ["push"]
	Env  []string // environment of a started node (TETHER_* settings are added)
	// Heartbeat is the interval a started node asks clients to ping at
	// (default 30s, the production default).
	Heartbeat time.Duration
}

// node is the push node under measurement.
type node struct {
	pushAddr, adminAddr, nodeID string
	pid                         int
	key                         ed25519.PrivateKey
	cmd                         *exec.Cmd   // nil when targeting a running node
	log                         *tailWriter // a started node's stderr
	exited                      chan error
}

// startNode starts a push node, or describes the running one, and waits
// until its admin port answers /readyz.
func startNode(ctx context.Context, s Server, redisAddr, prefix string) (*node, error) {
	if s.PushAddr != "" {
		if s.AdminAddr == "" || s.PID <= 0 || s.NodeID == "" || s.KeyFile == "" {
			return nil, errors.New("loadgen: measuring a running node needs its admin address, pid, node id and token key file")
		}
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return nil, err
		}
		key, err := token.ParsePrivate(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("loadgen: %s: %w", s.KeyFile, err)
		}
		n := &node{pushAddr: s.PushAddr, adminAddr: s.AdminAddr, nodeID: s.NodeID, pid: s.PID, key: key}
		return n, n.ready(ctx)
	}
	pub, priv, err := token.GenerateKey()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	hb := s.Heartbeat
	if hb <= 0 {
		hb = 30 * time.Second
	}
	n := &node{
		pushAddr:  "127.0.0.1:" + strconv.Itoa(ports[0]),
		adminAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		nodeID:    s.NodeID,
		key:       priv,
		log:       &tailWriter{max: 64 << 10},
		exited:    make(chan error, 1),
	}
	if n.nodeID == "" {
		n.nodeID = "bench-" + strconv.Itoa(os.Getpid())
	}
	cmd := exec.Command(s.Exe, s.Args...)
	cmd.Env = append(append([]string(nil), s.Env...),
		"TETHER_NODE_ID="+n.nodeID,
		"TETHER_TCP_ADDR="+n.pushAddr,
		"TETHER_ADMIN_ADDR="+n.adminAddr,
		"TETHER_TOKEN_PUBLIC_KEY="+token.EncodePublic(pub),
		"TETHER_REDIS_ADDR="+redisAddr,
		"TETHER_REDIS_PREFIX="+prefix,
		"TETHER_HEARTBEAT_INTERVAL="+hb.String(),
		"TETHER_IDLE_TIMEOUT="+(hb*5/2).String(),
		// One log line per session would dominate the node's CPU and the
		// bench's output; warnings still show.
		"TETHER_LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: start node: %w", err)
	}
	n.cmd, n.pid = cmd, cmd.Process.Pid
	go func() { n.exited <- cmd.Wait() }()
	if err := n.ready(ctx); err != nil {
		_ = n.stop()
		return nil, err
	}
	return n, nil
}

// ready polls /readyz for up to 30s.
func (n *node) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.adminAddr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			return fmt.Errorf("loadgen: node exited during start (%v):\n%s", err, n.log.String())
		case <-ctx.Done():
			return fmt.Errorf("loadgen: node at %s not ready: %w", n.adminAddr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// MemoryStats mirrors the JSON of the admin endpoint /debug/memory.
type MemoryStats struct {
	HeapAlloc    uint64 `json:"heap_alloc"`
	HeapInuse    uint64 `json:"heap_inuse"`
	HeapIdle     uint64 `json:"heap_idle"`
	HeapReleased uint64 `json:"heap_released"`
	HeapObjects  uint64 `json:"heap_objects"`
	StackInuse   uint64 `json:"stack_inuse"`
	Sys          uint64 `json:"sys"`
	NumGC        uint32 `json:"num_gc"`
	Goroutines   int    `json:"goroutines"`
}

// memory reads the node's runtime memory statistics; settle first collects
// garbage and returns free pages to the OS, so RSS reflects live memory.
func (n *node) memory(ctx context.Context, settle bool) (MemoryStats, error) {
	method := http.MethodGet
	if settle {
		method = http.MethodPost
	}
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+n.adminAddr+"/debug/memory", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return MemoryStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return MemoryStats{}, fmt.Errorf("loadgen: /debug/memory: %s (is the node older than the bench?)", resp.Status)
	}
	var ms MemoryStats
	return ms, json.NewDecoder(resp.Body).Decode(&ms)
}

// heapProfile writes the node's heap profile to path.
func (n *node) heapProfile(ctx context.Context, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.adminAddr+"/debug/pprof/heap", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loadgen: heap profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// alive reports an error if a started node has exited.
func (n *node) alive() error {
	if n.cmd == nil {
		return nil
	}
	select {
	case err := <-n.exited:
		n.exited <- err
		return fmt.Errorf("loadgen: node exited (%v):\n%s", err, n.log.String())
	default:
		return nil
	}
}

// stop ends a started node with SIGTERM (a graceful drain), then SIGKILL
// after 30s. A node the run did not start is left alone.
func (n *node) stop() error {
	if n.cmd == nil {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.exited <- err
		return nil
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		return errors.New("loadgen: node did not stop on SIGTERM; killed")
	}
}

// freePorts returns k loopback ports that were free a moment ago.
func freePorts(k int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	out := make([]int, 0, k)
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = bytes.Clone(t.b[over:])
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
