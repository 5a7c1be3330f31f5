package metrics

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBudget is the time after which one Redis command counts as slow.
const RedisBudget = 20 * time.Millisecond

// InstrumentRedis makes every command and pipeline of c pass the dispatch point.
func (m *Metrics) InstrumentRedis(c redis.UniversalClient) { c.AddHook(redisHook{m}) }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		done := h.m.Begin(LayerRedis, "dial", time.Second)
		c, err := next(ctx, network, addr)
		done(err)
		return c, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		done := h.m.Begin(LayerRedis, cmd.Name(), RedisBudget)
		err := next(ctx, cmd)
		done(redisErr(err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		done := h.m.Begin(LayerRedis, "pipeline", RedisBudget)
		err := next(ctx, cmds)
		done(redisErr(err))
		return err
	}
}

// redisErr does not count redis.Nil (a missing key) as an error.
func redisErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
