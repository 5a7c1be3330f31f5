package drill

// The faults, each one phase of the drill under load. A fault has an
// inject and (for most) a heal: what is between them is the outage. Node
// and API faults hit the first of each (push-1, api-1); the clients and
// the senders have the second to move to.

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// fault is one drill.
type fault struct {
	name   string
	what   string
	quick  bool // part of --quick
	client bool // only the clients' side: runs against a target too (target.go)
	inject func(ctx context.Context, c *cluster) error
	heal   func(ctx context.Context, c *cluster) error // nil: nothing to undo
}

// faults lists every fault in the order the full drill runs them.
func faults() []fault {
	return []fault{
		{name: "baseline", what: "no fault: the load alone", quick: true, client: true,
			inject: func(context.Context, *cluster) error { return nil }},
		{name: "push-kill", what: "kill -9 of push-1; started again after the hold", quick: true,
			inject: func(_ context.Context, c *cluster) error { return c.nodes[0].proc.Kill() },
			heal:   func(ctx context.Context, c *cluster) error { return c.nodes[0].proc.Start(ctx) }},
		{name: "push-vanish", what: "push-1 vanishes without FIN (its client link swallows everything); clients must notice by heartbeat", quick: true, client: true,
			inject: toxicOn(blackhole(), "client/push-1"),
			heal:   healOn("client/push-1")},
		{name: "api-kill", what: "kill -9 of api-1 in the middle of sends; started again after the hold", quick: true,
			inject: func(_ context.Context, c *cluster) error { return c.apis[0].proc.Kill() },
			heal:   func(ctx context.Context, c *cluster) error { return c.apis[0].proc.Start(ctx) }},
		{name: "api-answer-lost", what: "api-1's answers are lost after the request reached it (TCP reset on the way back): the retry on api-2 must find the stored message (200), not store it again", quick: true, client: true,
			inject: toxicOn(resetAnswers(), "rest/api-1"), heal: healOn("rest/api-1")},
		{name: "redis-kill", what: "kill -9 of Redis, started again empty at once", quick: true,
			inject: func(ctx context.Context, c *cluster) error {
				if err := c.redis.Kill(); err != nil {
					return err
				}
				return c.redis.Start(ctx)
			}},
		{name: "mysql-kill", what: "kill -9 of MariaDB, started again (crash recovery) after the hold", quick: true,
			inject: func(_ context.Context, c *cluster) error { return c.mysql.Kill() },
			heal:   func(ctx context.Context, c *cluster) error { return c.mysql.Start(ctx) }},
		{name: "api-mysql-latency", what: "300 ms (±100) each way between both APIs and MariaDB",
			inject: toxicOn(latency(300, 100), "mysql/api-1", "mysql/api-2"), heal: healOn("mysql/api-1", "mysql/api-2")},
		{name: "api-mysql-reset", what: "TCP resets on api-1's MariaDB connections, old and new",
			inject: toxicOn(resets(), "mysql/api-1"), heal: healOn("mysql/api-1")},
		{name: "api-mysql-blackhole", what: "api-1's MariaDB connections swallow everything",
			inject: toxicOn(blackhole(), "mysql/api-1"), heal: healOn("mysql/api-1")},
		{name: "api-redis-latency", what: "300 ms (±100) each way between both APIs and Redis",
			inject: toxicOn(latency(300, 100), "redis/api-1", "redis/api-2"), heal: healOn("redis/api-1", "redis/api-2")},
		{name: "api-redis-reset", what: "TCP resets on both APIs' Redis connections",
			inject: toxicOn(resets(), "redis/api-1", "redis/api-2"), heal: healOn("redis/api-1", "redis/api-2")},
		{name: "api-redis-blackhole", what: "both APIs' Redis connections swallow everything",
			inject: toxicOn(blackhole(), "redis/api-1", "redis/api-2"), heal: healOn("redis/api-1", "redis/api-2")},
		{name: "node-redis-latency", what: "300 ms (±100) each way between both push nodes and Redis",
			inject: toxicOn(latency(300, 100), "redis/push-1", "redis/push-2"), heal: healOn("redis/push-1", "redis/push-2")},
		{name: "node-redis-reset", what: "TCP resets on both push nodes' Redis connections",
			inject: toxicOn(resets(), "redis/push-1", "redis/push-2"), heal: healOn("redis/push-1", "redis/push-2")},
		{name: "node-redis-partition", what: "push-1 partitioned from Redis (its Redis link swallows everything)",
			inject: toxicOn(blackhole(), "redis/push-1"), heal: healOn("redis/push-1")},
		{name: "client-node-latency", what: "300 ms (±100) each way between the clients and both push nodes", client: true,
			inject: toxicOn(latency(300, 100), "client/push-1", "client/push-2"), heal: healOn("client/push-1", "client/push-2")},
		{name: "client-node-reset", what: "TCP resets on push-1's client connections, old and new", client: true,
			inject: toxicOn(resets(), "client/push-1"), heal: healOn("client/push-1")},
		{name: "push-hot-restart", what: "SIGUSR2: push-1 hands its connections to a new process",
			inject: func(ctx context.Context, c *cluster) error { return c.nodes[0].hotRestart(ctx) }},
		{name: "push-drain", what: "SIGTERM: push-1 drains (Reconnect frames) and exits; started again after",
			inject: func(_ context.Context, c *cluster) error { return c.nodes[0].proc.Signal(syscall.SIGTERM) },
			heal: func(ctx context.Context, c *cluster) error {
				wctx, cancel := context.WithTimeout(ctx, drainWindow+shutdownGrace+10*time.Second)
				defer cancel()
				if err := c.nodes[0].proc.Wait(wctx); err != nil {
					return err
				}
				return c.nodes[0].proc.Start(ctx)
			}},
	}
}

func toxicOn(ts []toxic, names ...string) func(context.Context, *cluster) error {
	return func(_ context.Context, c *cluster) error { return c.links.set(names, ts) }
}

func healOn(names ...string) func(context.Context, *cluster) error {
	return func(_ context.Context, c *cluster) error { c.links.heal(names...); return nil }
}

// selectFaults returns the faults named (all, or the quick ones, when
// names is empty); against a target only those on the clients' side.
func selectFaults(names []string, quick, targeted bool) ([]fault, error) {
	all := faults()
	if len(names) == 0 {
		var out []fault
		for _, f := range all {
			if (f.quick || !quick) && (f.client || !targeted) {
				out = append(out, f)
			}
		}
		return out, nil
	}
	var out []fault
	for _, n := range names {
		found := false
		for _, f := range all {
			if f.name != n {
				continue
			}
			if targeted && !f.client {
				return nil, fmt.Errorf("drill: %s needs the drill's own cluster, not a target", n)
			}
			out, found = append(out, f), true
		}
		if !found {
			return nil, fmt.Errorf("drill: no fault %q (tether drill --list names them)", n)
		}
	}
	return out, nil
}

// FaultInfo describes a fault for `tether drill --list`.
type FaultInfo struct {
	Name, What string
	Quick      bool
	Target     bool // runs against a target too
}

// Faults lists every fault of the full drill, in order.
func Faults() []FaultInfo {
	var out []FaultInfo
	for _, f := range faults() {
		out = append(out, FaultInfo{f.name, f.what, f.quick, f.client})
	}
	return out
}
