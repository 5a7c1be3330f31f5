package bulkhead

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The businesses of the API, each with its own pool.
const (
	Send      = "send"       // POST /v1/messages to one user
	GroupSend = "group_send" // POST /v1/messages to a group
	Sync      = "sync"       // GET /v1/sync and conversation history
	PushAPI   = "push_api"   // /v1/push, /v1/push/batch, push status, user lookup by key
	Broadcast = "broadcast"  // POST /v1/push/broadcast
	Webhook   = "webhook"    // offline-notification deliveries (background)
	Relay     = "relay"      // outbox batches moved to Redis (background)
	Other     = "other"      // every other REST route: accounts, groups, profiles, ...
)

// Names lists every business, in the order metrics and tables show them.
var Names = []string{Send, GroupSend, Sync, PushAPI, Broadcast, Webhook, Relay, Other}

// DefaultSpec is the default size of every pool, in the form Parse reads.
// The relay moves one batch at a time per process (ordering), so its pool
// has one worker and no queue. The push API admits at most 300 requests a
// second per process (a batch is one request of up to 500 pushes): a
// flood of pushes, which mostly wait on Redis, would otherwise keep its 8
// workers busy on CPU that 1:1 sends need (internal/stack's
// TestBulkheads_MeasureSendP99UnderPushFloodAndHangingWebhook measures it).
const DefaultSpec = "send=16/64,group_send=8/32,sync=12/48,push_api=8/32/300,broadcast=2/8,webhook=8/0,relay=1/0,other=12/48"

// ConnReserve is what Conns adds to the pools' workers for the process's
// own background work outside any pool (block mirror upkeep, switch
// reloads, readiness checks).
const ConnReserve = 4

// Parse reads sizes of the form "send=16/64,push_api=8/32/500"
// (name=workers/queue, or name=workers/queue/rate with the most work
// admitted per second). Every business must be named exactly once.
func Parse(spec string) (map[string]Size, error) {
	out := make(map[string]Size, len(Names))
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rest, ok := strings.Cut(part, "=")
		w, q, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q is not name=workers/queue[/rate]", part)
		}
		q, r, hasRate := strings.Cut(q, "/")
		var perSec float64
		if hasRate {
			var err error
			perSec, err = strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || perSec <= 0 || perSec > 1e6 {
				return nil, fmt.Errorf("%q: the rate is work per second, above 0 and at most 1000000", part)
			}
		}
		name = strings.TrimSpace(name)
		if !slices.Contains(Names, name) {
			return nil, fmt.Errorf("unknown pool %q (pools: %s)", name, strings.Join(Names, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("pool %q is sized twice", name)
		}
		workers, err1 := strconv.Atoi(strings.TrimSpace(w))
		queue, err2 := strconv.Atoi(strings.TrimSpace(q))
		if err1 != nil || err2 != nil || workers < 1 || workers > 10000 || queue < 0 || queue > 100000 {
			return nil, fmt.Errorf("%q: want 1 to 10000 workers and 0 to 100000 queued", part)
		}
		out[name] = Size{Workers: workers, Queue: queue, Rate: perSec}
	}
	var missing []string
	for _, n := range Names {
		if _, ok := out[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pools without a size: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Set is the pools of one process, one per business.
type Set struct {
	pools map[string]*Pool
}

// NewSet makes a pool of each size; wait is every queue's longest wait.
func NewSet(sizes map[string]Size, wait time.Duration) *Set {
	s := &Set{pools: make(map[string]*Pool, len(sizes))}
	for name, size := range sizes {
		s.pools[name] = NewPool(name, size, wait)
	}
	return s
}

// Pool returns the pool of a business (one of Names); nil if the set has none.
func (s *Set) Pool(name string) *Pool {
	if s == nil {
		return nil
	}
	return s.pools[name]
}

// Pools returns every pool, sorted by name.
func (s *Set) Pools() []*Pool {
	out := make([]*Pool, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Conns is the size of the database and Redis client pools that gives every
// business its share: the sum of all workers plus ConnReserve.
func (s *Set) Conns() int {
	n := ConnReserve
	for _, p := range s.pools {
		n += p.size.Workers
	}
	return n
}
