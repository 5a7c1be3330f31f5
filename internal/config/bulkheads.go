package config

import (
	"time"

	"github.com/tetherim/tether/internal/bulkhead"
)

// Bulkheads sizes the pools that keep the API's businesses apart
// (internal/bulkhead), for `tether api` and `tether dev`.
type Bulkheads struct {
	Spec string        // name=workers/queue for every business
	Wait time.Duration // longest wait in any pool's queue
}

func (b *Bulkheads) declare(s *Set) {
	s.String(&b.Spec, "bulkheads", "TETHER_BULKHEADS", bulkhead.DefaultSpec, "Pool of each business as name=workers/queue[/rate]: at most workers at once, at most queue more waiting (up to --bulkhead-wait), at most rate admitted per second; beyond that requests are refused with 503 overloaded and Retry-After, answered no sooner than the bulkhead wait, at most a second (a flooding client is refused at most once per wait per connection). Every business must be named (send, group_send, sync, push_api, broadcast, webhook, relay, other). The database and Redis connection pools are sized to the sum of the workers plus 4, so each business has its own share.")
	s.Duration(&b.Wait, "bulkhead-wait", "TETHER_BULKHEAD_WAIT", 100*time.Millisecond, "Longest a request waits in its business's queue for a worker before it is refused with 503 overloaded; a refused request is answered after this wait too (at most a second).")
}

func (b *Bulkheads) check(c *checker) {
	if _, err := bulkhead.Parse(b.Spec); err != nil {
		c.failf(&b.Spec, "%v", err)
	}
	if b.Wait <= 0 || b.Wait > 30*time.Second {
		c.failf(&b.Wait, "must be positive and at most 30s, got %s", b.Wait)
	}
}

// Set builds the pools; the configuration must have been validated.
func (b Bulkheads) Set() *bulkhead.Set {
	sizes, err := bulkhead.Parse(b.Spec)
	if err != nil {
		sizes, _ = bulkhead.Parse(bulkhead.DefaultSpec)
	}
	return bulkhead.NewSet(sizes, b.Wait)
}
