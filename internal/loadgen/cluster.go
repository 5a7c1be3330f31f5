package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// ClusterConfig configures RunCluster. Config.N and Config.Server.PushAddr
// are not used: the run starts Nodes nodes of its own and connects PerNode
// clients to each; Config.Workers is the worker processes per node.
type ClusterConfig struct {
	Config
	Nodes   int           // push nodes (default 4)
	PerNode int           // connections per node (default 15,000)
	Rounds  int           // broadcasts sent one after another (default 5)
	Settle  time.Duration // wait after the broadcasts before measuring memory (default 2s)
}

// ClusterNode is what one node of the cluster measured.
type ClusterNode struct {
	NodeID      string  `json:"node_id"`
	Connections int     `json:"connections"`
	Workers     int     `json:"worker_processes"`
	BaselineRSS int64   `json:"baseline_rss_bytes"`
	RSS         int64   `json:"rss_bytes"` // after the broadcasts and a forced GC
	RSSPerConn  float64 `json:"rss_per_conn_bytes"`
	CPUSeconds  float64 `json:"broadcast_cpu_seconds"` // CPU time the node used during the broadcast rounds
}

// ClusterResult is what RunCluster measured.
type ClusterResult struct {
	Nodes       int `json:"nodes"`
	Connections int `json:"connections"`
	Workers     int `json:"worker_processes"`
	// ConnectSeconds is from the first dial of any worker to the last
	// Welcome, every node's clients connecting at once (as idle measures
	// it: no worker process start); ConnectWall includes starting the
	// worker processes.
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectRate    float64 `json:"connects_per_second"`
	ConnectWall    float64 `json:"connect_wall_seconds"`

	// Rounds are the broadcasts: each one XADD read by every node, timed
	// until the last of all the connections had it.
	Rounds     []BroadcastRound `json:"rounds"`
	AllP50     float64          `json:"all_received_p50_seconds"`
	AllP99     float64          `json:"all_received_p99_seconds"`
	AllMax     float64          `json:"all_received_max_seconds"`
	MedianRate float64          `json:"median_deliveries_per_second"`
	Reached    int64            `json:"reached_every_connection"` // broadcasts every connection received exactly once
	PerNode    []ClusterNode    `json:"per_node"`
	RSS        int64            `json:"rss_bytes"`          // all nodes
	RSSPerConn float64          `json:"rss_per_conn_bytes"` // all nodes' growth over their baselines / all connections
	CPUSeconds float64          `json:"broadcast_cpu_seconds"`
	// ClientCPU is what the worker processes used in the same time: they
	// share the machine's cores with the nodes, and on two cores the
	// clients' share is what bounds the rate (the report's notes).
	ClientCPU    float64 `json:"broadcast_client_cpu_seconds"`
	BroadcastSec float64 `json:"broadcast_seconds"` // wall time of all the rounds
}

// clusterRun is a cluster in progress: its nodes, one fleet of workers per
// node, and the Redis prefix they share.
type clusterRun struct {
	cfg     ClusterConfig
	rdb     *redis.Client
	keys    route.Keys
	ownKeys bool
	nodes   []*node
	baseRSS []int64  // baseRSS[i] is nodes[i]'s RSS before any client
	fleets  []*fleet // fleets[i] holds the clients of nodes[i]
	changed chan struct{}
}

func (c *ClusterConfig) defaults() error {
	if c.Nodes <= 0 {
		c.Nodes = 4
	}
	if c.PerNode <= 0 {
		c.PerNode = 15000
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.Server.PushAddr != "" {
		return errors.New("loadgen: the cluster scenario starts its own nodes; it cannot measure a running one")
	}
	if c.Nodes*c.PerNode > MaxConnections {
		return fmt.Errorf("loadgen: %d nodes x %d connections is over %d connections", c.Nodes, c.PerNode, MaxConnections)
	}
	// The per-node figures go through the shared checks, one node at a time.
	per := c.Config
	per.N = c.PerNode
	if err := per.defaults(); err != nil {
		return err
	}
	c.Config = per
	c.N = c.Nodes * c.PerNode
	return nil
}

// RunCluster starts Nodes push nodes on free loopback ports sharing one
// Redis prefix, connects PerNode clients to each (all nodes at once, from
// their own worker processes), sends Rounds broadcasts, each once every
// connection had the previous one, and measures every node.
func RunCluster(ctx context.Context, cfg ClusterConfig) (ClusterResult, error) {
	if err := cfg.defaults(); err != nil {
		return ClusterResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c := &clusterRun{cfg: cfg, changed: make(chan struct{}, 1)}
	defer c.close()
	if err := c.start(ctx); err != nil {
		return ClusterResult{}, err
	}
	r := ClusterResult{Nodes: cfg.Nodes, Connections: cfg.N}

	// Every node's clients connect at once: the machine takes the whole
	// connect storm, as when a cluster's clients come back together.
	start := time.Now()
	for i, n := range c.nodes {
		shares := split(i*cfg.Workers, int64(i*cfg.PerNode)+1, cfg.PerNode, cfg.Workers)
		f, err := startFleet(cfg.Worker, n.pushAddr, token.EncodePrivate(n.key), cfg.Platform, shares, c.changed, cfg.Stderr)
		if err != nil {
			return r, err
		}
		c.fleets = append(c.fleets, f)
		r.Workers += len(shares)
	}
	want := int64(cfg.N)
	t, err := c.wait(ctx, "connections", func(t Status) bool { return t.Dialed && t.Connected+t.Failed >= want })
	if err != nil {
		return r, err
	}
	if t.Failed > 0 {
		return r, fmt.Errorf("loadgen: %d of %d connections failed; first error: %s", t.Failed, want, t.FirstError)
	}
	r.ConnectWall = time.Since(start).Seconds()
	r.ConnectSeconds = r.ConnectWall
	if t.FirstDialNS > 0 && t.LastConnectNS > t.FirstDialNS {
		r.ConnectSeconds = time.Duration(t.LastConnectNS - t.FirstDialNS).Seconds()
	}
	r.ConnectRate = float64(cfg.N) / r.ConnectSeconds
	if err := c.alive(); err != nil {
		return r, err
	}

	cpu0, err := c.cpu()
	if err != nil {
		return r, err
	}
	client0 := c.clientCPU()
	bstart := time.Now()
	secs := make([]float64, 0, cfg.Rounds)
	rates := make([]float64, 0, cfg.Rounds)
	for i := range cfg.Rounds {
		at, err := c.broadcast(ctx, "bench-cluster-"+strconv.Itoa(i))
		if err != nil {
			return r, err
		}
		want := int64(cfg.N) * int64(i+1)
		t, err := c.wait(ctx, "broadcast "+strconv.Itoa(i+1)+" on every node", func(t Status) bool { return t.Frames >= want })
		if err != nil {
			return r, err
		}
		if t.Frames > want {
			return r, fmt.Errorf("loadgen: %d frames for %d deliveries: some connections got a broadcast twice", t.Frames, want)
		}
		d := time.Unix(0, t.LastReceiveNS).Sub(at)
		r.Rounds = append(r.Rounds, BroadcastRound{Seconds: d.Seconds(), PerSecond: float64(cfg.N) / d.Seconds()})
		secs, rates = append(secs, d.Seconds()), append(rates, float64(cfg.N)/d.Seconds())
		r.Reached++
	}
	r.BroadcastSec = time.Since(bstart).Seconds()
	cpu1, err := c.cpu()
	if err != nil {
		return r, err
	}
	r.ClientCPU = (c.clientCPU() - client0).Seconds()
	r.AllP50, r.AllP99, r.AllMax = percentile(secs, 50), percentile(secs, 99), percentile(secs, 100)
	r.MedianRate = median(rates)

	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return r, err
	}
	var base int64
	for i, n := range c.nodes {
		if _, err := n.memory(ctx, true); err != nil {
			return r, err
		}
		rss, err := RSS(n.pid)
		if err != nil {
			return r, err
		}
		pn := ClusterNode{
			NodeID: n.nodeID, Connections: cfg.PerNode, Workers: cfg.Workers,
			BaselineRSS: c.baseRSS[i], RSS: rss,
			RSSPerConn: float64(rss-c.baseRSS[i]) / float64(cfg.PerNode),
			CPUSeconds: (cpu1[i] - cpu0[i]).Seconds(),
		}
		r.PerNode = append(r.PerNode, pn)
		r.RSS += rss
		base += c.baseRSS[i]
		r.CPUSeconds += pn.CPUSeconds
	}
	r.RSSPerConn = float64(r.RSS-base) / float64(cfg.N)
	return r, c.healthy()
}

// start opens Redis and starts the nodes, each with its own id, and
// measures their baselines.
func (c *clusterRun) start(ctx context.Context) error {
	prefix := c.cfg.Prefix
	if prefix == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		prefix, c.ownKeys = "bench-"+hex.EncodeToString(b)+":", true
	}
	c.keys = route.Keys{Prefix: prefix}
	c.rdb = redis.NewClient(&redis.Options{Addr: c.cfg.RedisAddr})
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("loadgen: redis at %s: %w", c.cfg.RedisAddr, err)
	}
	for i := range c.cfg.Nodes {
		s := c.cfg.Server
		s.NodeID = "bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(i+1)
		n, err := startNode(ctx, s, c.cfg.RedisAddr, prefix)
		if err != nil {
			return fmt.Errorf("loadgen: node %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, n)
		if _, err := n.memory(ctx, true); err != nil {
			return err
		}
		rss, err := RSS(n.pid)
		if err != nil {
			return err
		}
		c.baseRSS = append(c.baseRSS, rss)
	}
	return nil
}

// broadcast writes one broadcast job, which every node reads with its own
// consumer group, and returns when it was written.
func (c *clusterRun) broadcast(ctx context.Context, id string) (time.Time, error) {
	s := session{rdb: c.rdb, streams: stream.NewRedis(c.rdb, c.keys.Prefix, stream.Caps{})}
	return s.broadcast(ctx, id)
}

// cpu reads every node's CPU time.
func (c *clusterRun) cpu() ([]time.Duration, error) {
	out := make([]time.Duration, len(c.nodes))
	for i, n := range c.nodes {
		var err error
		if out[i], err = CPUTime(n.pid); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// clientCPU is the CPU time all worker processes have used so far; a
// worker that cannot be read counts nothing.
func (c *clusterRun) clientCPU() time.Duration {
	var sum time.Duration
	for _, f := range c.fleets {
		for _, cmd := range f.cmds {
			if d, err := CPUTime(cmd.Process.Pid); err == nil {
				sum += d
			}
		}
	}
	return sum
}

// total sums the latest status of every worker of every node.
func (c *clusterRun) total() (Status, error) {
	t := Status{Dialed: true}
	var exited error
	for _, f := range c.fleets {
		var err error
		if t, err = f.total(t); err != nil && exited == nil {
			exited = err
		}
	}
	return t, exited
}

// wait blocks until done(total) holds, a worker or node exits, or ctx ends.
func (c *clusterRun) wait(ctx context.Context, what string, done func(Status) bool) (Status, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		t, exited := c.total()
		if done(t) {
			return t, nil
		}
		if exited != nil {
			return t, exited
		}
		if err := c.alive(); err != nil {
			return t, err
		}
		select {
		case <-c.changed:
		case <-tick.C: // a node that dies sends no status line
		case <-ctx.Done():
			return t, fmt.Errorf("loadgen: waiting for %s: %w (status %+v)", what, ctx.Err(), t)
		}
	}
}

// alive fails if a node exited.
func (c *clusterRun) alive() error {
	for i, n := range c.nodes {
		if err := n.alive(); err != nil {
			return fmt.Errorf("loadgen: node %d: %w", i+1, err)
		}
	}
	return nil
}

// healthy fails if any connection was lost or a node exited.
func (c *clusterRun) healthy() error {
	t, exited := c.total()
	if exited != nil {
		return exited
	}
	if t.Closed > 0 {
		return fmt.Errorf("loadgen: %d connections were closed by a node; first error: %s", t.Closed, t.FirstError)
	}
	return c.alive()
}

// close stops the workers, then the nodes, and removes the run's keys.
func (c *clusterRun) close() {
	for _, f := range c.fleets {
		if err := f.stop(); err != nil {
			fmt.Fprintln(c.cfg.Stderr, err)
		}
	}
	for _, n := range c.nodes {
		if err := n.stop(); err != nil {
			fmt.Fprintln(c.cfg.Stderr, err)
		}
	}
	if c.rdb == nil {
		return
	}
	if c.ownKeys {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		iter := c.rdb.Scan(ctx, 0, c.keys.Prefix+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				c.rdb.Del(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			c.rdb.Del(ctx, batch...)
		}
		cancel()
	}
	_ = c.rdb.Close()
}

// Targets of the cluster scenario: 60,000 connections on one machine, and
// every broadcast reaches all of them.
func (r ClusterResult) Targets() []Target {
	reached := 0.0
	if len(r.Rounds) > 0 {
		reached = 100 * float64(r.Reached) / float64(len(r.Rounds))
	}
	ts := []Target{
		AtLeast("connections held", 60000, float64(r.Connections), UnitCount),
		AtLeast("broadcasts that reached every connection", 100, reached, UnitPercent),
	}
	if r.Connections != 60000 {
		ts[0].Note = fmt.Sprintf("ran with %d nodes x %d connections", r.Nodes, r.Connections/max(r.Nodes, 1))
	}
	return ts
}

// WriteClusterTable prints r for people.
func WriteClusterTable(w io.Writer, r ClusterResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }
	fmt.Fprintf(tw, "cluster\t%d nodes, %d connections over %d worker processes\n", r.Nodes, r.Connections, r.Workers)
	fmt.Fprintf(tw, "connect\t%.2fs (%.0f/s, all nodes at once; %.2fs with starting the worker processes)\n", r.ConnectSeconds, r.ConnectRate, r.ConnectWall)
	for _, n := range r.PerNode {
		fmt.Fprintf(tw, "node %s\t%d connections, RSS %s -> %s, %.2f KiB per connection, %.2fs CPU broadcasting\n",
			n.NodeID, n.Connections, mib(n.BaselineRSS), mib(n.RSS), n.RSSPerConn/1024, n.CPUSeconds)
	}
	fmt.Fprintf(tw, "all nodes\tRSS %s, %.2f KiB per connection\n", mib(r.RSS), r.RSSPerConn/1024)
	for i, x := range r.Rounds {
		fmt.Fprintf(tw, "broadcast %d\t%.1f ms until all %d had it, %.0f deliveries/s\n", i+1, x.Seconds*1000, r.Connections, x.PerSecond)
	}
	fmt.Fprintf(tw, "all received\tp50 %.1f ms, p99 %.1f ms, max %.1f ms; median %.0f deliveries/s\n",
		r.AllP50*1000, r.AllP99*1000, r.AllMax*1000, r.MedianRate)
	fmt.Fprintf(tw, "reached all\t%d of %d broadcasts; nodes used %.2fs CPU and clients %.2fs in %.2fs of broadcasting\n",
		r.Reached, len(r.Rounds), r.CPUSeconds, r.ClientCPU, r.BroadcastSec)
	return tw.Flush()
}
