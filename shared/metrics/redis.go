package metrics

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// BlockSuffix ends the unit name of a blocking Redis read
// (xreadgroup_block): its time is mostly waiting for work, so it is kept
// apart from the command's latency and from the time spent on Redis.
const BlockSuffix = "_block"

// RedisBudget is the time after which one Redis command counts as slow.
// A blocking read has no budget (redisBudget).
const RedisBudget = 20 * time.Millisecond

// InstrumentRedis makes every command and pipeline of c pass the dispatch point.
func (m *Metrics) InstrumentRedis(c redis.UniversalClient) { c.AddHook(redisHook{m}) }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		done := h.m.Begin(LayerRedis, "dial", time.Second, IDs(ctx)...)
		c, err := next(ctx, network, addr)
		done(err)
		return c, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name, budget := cmd.Name(), redisBudget(cmd)
		if budget == 0 {
			// Its time is mostly waiting: keep it out of the command's latency.
			name += BlockSuffix
		}
		done := h.m.Begin(LayerRedis, name, budget, IDs(ctx)...)
		err := next(ctx, cmd)
		if probes([]redis.Cmder{cmd}) {
			done(nil)
			return err
		}
		done(redisErr(err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		budget := RedisBudget
		for _, c := range cmds {
			if b := redisBudget(c); b <= 0 || b > budget {
				budget = b
				if b <= 0 {
					break
				}
			}
		}
		done := h.m.Begin(LayerRedis, "pipeline", budget, IDs(ctx)...)
		err := next(ctx, cmds)
		if probes(cmds) {
			done(nil)
			return err
		}
		done(redisErr(err))
		return err
	}
}

// redisErr keeps only failures: redis.Nil (a missing key, a BLOCK that timed
// out), BUSYGROUP (XGROUP CREATE of a group that exists) and NOSCRIPT
// (EVALSHA before the script is loaded; go-redis and the callers fall back
// to EVAL) are answers the callers expect.
func redisErr(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		if strings.HasPrefix(msg, "BUSYGROUP") || strings.HasPrefix(msg, "NOSCRIPT") {
			return nil
		}
	}
	return err
}

// probes says whether cmds are only go-redis's best-effort connection
// set-up (CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS), whose refusal by an
// older server go-redis ignores, and so do we.
func probes(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		args := c.Args()
		if c.Name() != "client" || len(args) < 2 {
			return false
		}
		sub, _ := args[1].(string)
		if !strings.EqualFold(sub, "setinfo") && !strings.EqualFold(sub, "maint_notifications") {
			return false
		}
	}
	return len(cmds) > 0
}

// redisBudget is cmd's time budget: RedisBudget, or none (0) for a read
// that blocks, counted as its own unit <command>_block (XREAD/XREADGROUP with BLOCK, BLPOP and kin): it waits as long
// as it was asked to, Redis ends the wait only on its next cron tick (100 ms
// at the default hz), and its caller bounds it with a deadline of its own.
func redisBudget(cmd redis.Cmder) time.Duration {
	switch cmd.Name() {
	case "xread", "xreadgroup":
		args := cmd.Args()
		for i := 1; i < len(args); i++ {
			if s, ok := args[i].(string); ok && strings.EqualFold(s, "block") {
				return 0
			}
		}
	case "blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop":
		return 0
	}
	return RedisBudget
}
