package pushapi

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/tetherim/tether"
)

// Allow spends n pushes of the key's per-second rate (GCRA in Redis, shared
// by every API replica). The burst is one second's worth, at least one full
// batch. Redis is a weak dependency here: if it does not answer, the request
// is let through and counted (fail open), so a Redis hiccup does not stop
// pushes that would mostly fail to route anyway.
func (s *Service) Allow(ctx context.Context, by tether.KeyCaller, n int) error {
	rate := by.RateLimit
	if rate == 0 {
		rate = s.cfg.DefaultRateLimit
	}
	if rate <= 0 || n <= 0 {
		return nil
	}
	limit := redis_rate.Limit{Rate: rate, Burst: max(rate, tether.MaxPushBatch), Period: time.Second}
	res, err := s.lim.AllowN(ctx, by.KeyID, limit, n)
	if err != nil {
		s.limiterDown.Inc()
		s.log.Warn("push api: rate limiter unavailable; request let through", "key", by.KeyID, "err", err)
		return nil
	}
	if res.Allowed > 0 {
		return nil
	}
	e := tether.Errorf(tether.ERATELIMITED, "over the key's rate limit of %d pushes per second", rate)
	e.RetryAfter = max(res.RetryAfter, time.Millisecond)
	return e
}
