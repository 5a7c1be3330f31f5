package pushapi

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
)

// Limit is an API key's rate: Rate pushes per Period, in bursts of up to Burst.
type Limit struct {
	Rate, Burst int
	Period      time.Duration
}

// limitOf is the rate of a key: its own, else the default; ok is false
// when the key is unlimited.
func (s *Service) limitOf(by tether.KeyCaller) (l Limit, ok bool) {
	rate := by.RateLimit
	if rate == 0 {
		rate = s.cfg.DefaultRateLimit
	}
	if rate <= 0 {
		return Limit{}, false
	}
	// The burst is one second's worth, at least one full batch.
	return Limit{Rate: rate, Burst: max(rate, tether.MaxPushBatch), Period: time.Second}, true
}

// rateLimited is the error of a request over its key's rate.
func rateLimited(l Limit, retryAfter time.Duration) error {
	e := tether.Errorf(tether.ERATELIMITED, "over the key's rate limit of %d pushes per second", l.Rate)
	e.RetryAfter = max(retryAfter, time.Millisecond)
	return e
}

// Allow spends n pushes of the key's per-second rate (GCRA in Redis, shared
// by every API replica) for requests that do not send through the send
// script, which spends the rate in its own round trip (broadcasts, batches
// with persisted pushes). Redis is a weak dependency here: if it does not
// answer, the request is let through and counted (fail open), so a Redis
// hiccup does not stop pushes that would mostly fail to route anyway.
func (s *Service) Allow(ctx context.Context, by tether.KeyCaller, n int) error {
	l, ok := s.limitOf(by)
	if !ok || n <= 0 {
		return nil
	}
	allowed, retry, err := s.lim.AllowN(ctx, by.KeyID, l, n)
	if err != nil {
		s.limiterDown.Inc()
		s.log.Warn("push api: rate limiter unavailable; request let through", "key", by.KeyID, "err", err)
		return nil
	}
	if allowed {
		return nil
	}
	return rateLimited(l, retry)
}

// gcraLua defines the one rate limit of the push API, for this file's
// limitScript and for the send script (send_script.go):
//
//	pushapi_gcra(key, burst, rate, period_seconds, cost) -> retry after (seconds), or -1: allowed and spent
//
// It is GCRA kept exactly as github.com/go-redis/redis_rate keeps it (the
// key's theoretical arrival time, in seconds since 2017-01-01, under
// "rate:" + the key), which the push API used before the send script had
// to spend the rate in its own round trip: replicas of either version share
// a key's bucket during a rolling upgrade. Callers run
// redis.replicate_commands() first (TIME makes the script nondeterministic
// before Redis 7).
const gcraLua = `
local function pushapi_gcra(key, burst, rate, period, cost)
  local interval = period / rate
  local t = redis.call('TIME')
  local now = (t[1] - 1483228800) + (t[2] / 1000000)
  local tat = redis.call('GET', key)
  if tat then tat = tonumber(tat) else tat = now end
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local diff = now - (new_tat - interval * burst)
  if diff < 0 then return -diff end
  local reset = new_tat - now
  if reset > 0 then redis.call('SET', key, new_tat, 'EX', math.ceil(reset)) end
  return -1
end
`

// limitScript spends a rate alone: KEYS[1] the rate key, ARGV burst, rate,
// period (seconds) and cost.
var limitScript = redis.NewScript("redis.replicate_commands()\n" + gcraLua + `
return tostring(pushapi_gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])))`)

// rateKey is where the rate of an API key lives (redis_rate's naming, see gcraLua).
func (b *RedisBackend) rateKey(keyID string) string { return "rate:" + b.prefix + "pushrate:" + keyID }

// rateArgs are pushapi_gcra's burst, rate and period arguments for l.
func rateArgs(args []any, l Limit) []any {
	return append(args, l.Burst, l.Rate, strconv.FormatFloat(l.Period.Seconds(), 'f', -1, 64))
}

// retryArg parses pushapi_gcra's answer: allowed, or the wait before a retry.
func retryArg(v any) (allowed bool, retry time.Duration, err error) {
	var secs float64
	switch v := v.(type) {
	case string:
		secs, err = strconv.ParseFloat(v, 64)
	case int64:
		secs = float64(v)
	}
	if err != nil || secs < 0 {
		return err == nil, 0, err
	}
	return false, time.Duration(secs * float64(time.Second)), nil
}

// AllowN implements Limiter.
func (b *RedisBackend) AllowN(ctx context.Context, keyID string, l Limit, n int) (bool, time.Duration, error) {
	v, err := limitScript.Run(ctx, b.rdb, []string{b.rateKey(keyID)}, append(rateArgs(nil, l), n)...).Result()
	if err != nil {
		return false, 0, err
	}
	return retryArg(v)
}
