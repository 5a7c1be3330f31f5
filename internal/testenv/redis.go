package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server for one test: its own port and
// directory, so the test may kill it, or run it in cluster mode, without
// touching the shared Redis other tests use. It keeps nothing on disk but
// a cluster's node file and is killed when the test ends.
type RedisServer struct {
	t      testing.TB
	dir    string
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartRedis starts a private redis-server on a free loopback port, with
// extra arguments (e.g. "--requirepass", "x"), and waits until it answers.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: no redis-server (run deployments/local/services.sh, which installs it)")
	}
	dir, err := os.MkdirTemp("", "tether-redis-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	r := &RedisServer{t: t, dir: dir, port: freePort(t)}
	t.Cleanup(func() {
		r.Kill()
		_ = os.RemoveAll(dir)
	})
	all := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"),
	}, args...)
	cmd := exec.Command(bin, all...)
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server: %v", err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.exited)
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		// NOAUTH: it answers, the test set a password.
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return r
		}
		select {
		case <-r.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("testenv: redis-server exited: %v\n%s", err, tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: redis-server on %s not answering: %v", r.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is the server's host:port.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Kill kills the server with SIGKILL and waits for it to exit; clients see
// their connections reset and new ones refused. Killing it twice does nothing.
func (r *RedisServer) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// RedisCluster is a private Redis Cluster of primaries without replicas,
// made with redis-cli --cluster create.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartRedisCluster starts n (at least 3) private redis-servers in cluster
// mode, joins them into one cluster and waits until it serves every slot.
func StartRedisCluster(t testing.TB, n int) *RedisCluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("testenv: no redis-cli (run deployments/local/services.sh, which installs redis-tools)")
	}
	c := &RedisCluster{}
	args := []string{"--cluster", "create"}
	for range n {
		s := StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: s.Addr()})
		Eventually(t, 30*time.Second, func() bool {
			info, err := rc.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		}, "cluster state ok on %s", s.Addr())
		_ = rc.Close()
	}
	return c
}

// NodeWithout returns a node of the cluster that does not serve key's slot:
// a plain client connected to it gets MOVED for key.
func (c *RedisCluster) NodeWithout(t testing.TB, key string) *RedisServer {
	t.Helper()
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr()})
	defer rc.Close()
	slot, err := rc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("testenv: CLUSTER KEYSLOT: %v", err)
	}
	slots, err := rc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("testenv: CLUSTER SLOTS: %v", err)
	}
	owner := ""
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			owner = s.Nodes[0].Addr
		}
	}
	for _, n := range c.Nodes {
		if n.Addr() != owner {
			return n
		}
	}
	panic(fmt.Sprintf("testenv: every node serves slot %d", slot))
}
