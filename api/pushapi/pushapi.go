// Package pushapi is the push API for third-party services: server-to-server
// API keys (checked through a short in-process cache), per-key rate limits in
// Redis, and pushes to users, transient or persisted, and broadcasts.
//
// A transient push touches no database: its idempotency record and delivery
// status live in Redis with a TTL (keys in shared/route/pushapi.go), and it
// costs three Redis round trips however many users and nodes it reaches: the
// rate limiter, the idempotency record with the route lookup, and the status
// with the XADD to each node's stream. A batch costs the same three.
package pushapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// Defaults of Config.
const (
	// DefaultKeyCacheTTL is how long a key lookup is trusted: a revoked key
	// keeps working on other API replicas for up to this long (at once on the
	// replica that revoked it).
	DefaultKeyCacheTTL = 5 * time.Second
	// maxCachedKeys bounds the cache; a client cycling through made-up keys
	// only empties it.
	maxCachedKeys = 10000
	// AdminKeyID is the key id of the bootstrap admin key (Config.AdminKey).
	AdminKeyID = "admin"
)

// Config configures the service.
type Config struct {
	// AdminKey is an admin-scope secret from the operator (TETHER_ADMIN_KEY),
	// to create the first keys; empty: none.
	AdminKey string
	// DefaultRateLimit is the pushes per second of keys created without a
	// rate_limit; 0: unlimited.
	DefaultRateLimit int
	KeyCacheTTL      time.Duration // 0: DefaultKeyCacheTTL
}

// Persister appends a persisted push to users' timelines: one entry of kind
// "push" each, delivered like messages, and collapses the entries named in
// Collapse. It returns the new entry's version for each user that got one.
type Persister interface {
	PersistPush(ctx context.Context, p PersistedPush) (map[int64]uint64, error)
}

// PersistedPush is what a Persister stores.
type PersistedPush struct {
	PushID      string
	UserIDs     []int64
	Platforms   []string
	Payload     json.RawMessage
	CollapseKey string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// Collapse: user -> version of that user's newest earlier push entry of
	// CollapseKey, to replace by a collapsed event.
	Collapse map[int64]uint64
}

// Service implements tether.APIKeyService (with the admin key and the cache in
// front of the store) and tether.PushService.
type Service struct {
	cfg     Config
	keys    tether.APIKeyService
	persist Persister // nil: persisted pushes are unavailable
	rdb     redis.UniversalClient
	reg     *route.Registry
	streams *stream.Redis
	rk      route.Keys
	lim     *redis_rate.Limiter
	admin   []byte // SHA-256 of cfg.AdminKey, nil without one
	log     *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedKey // by hex SHA-256 of the secret

	limiterDown prometheus.Counter
}

type cachedKey struct {
	caller *tether.KeyCaller // nil: no such live key
	at     time.Time
}

var (
	_ tether.APIKeyService = (*Service)(nil)
	_ tether.PushService   = (*Service)(nil)
)

// New returns the service. persist may be nil (persisted pushes then answer
// unavailable); m and log may be nil.
func New(cfg Config, keys tether.APIKeyService, persist Persister, rdb redis.UniversalClient, reg *route.Registry, streams *stream.Redis, m *metrics.Metrics, log *slog.Logger) *Service {
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg: cfg, keys: keys, persist: persist, rdb: rdb, reg: reg, streams: streams, rk: reg.Keys(),
		lim: redis_rate.NewLimiter(rdb), log: log, cache: map[string]cachedKey{},
		limiterDown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_push_api_rate_limiter_unavailable_total",
			Help: "Push API requests let through without a rate-limit check because Redis did not answer (fail open).",
		}),
	}
	if cfg.AdminKey != "" {
		h := sha256.Sum256([]byte(cfg.AdminKey))
		s.admin = h[:]
	}
	if m != nil {
		m.Register(s.limiterDown)
	}
	return s
}

// ---- API keys ----

// KeyBySecret checks a secret: the admin key, else the cache, else the store.
func (s *Service) KeyBySecret(ctx context.Context, secret string) (*tether.KeyCaller, error) {
	h := sha256.Sum256([]byte(secret))
	if s.admin != nil && subtle.ConstantTimeCompare(h[:], s.admin) == 1 {
		return &tether.KeyCaller{KeyID: AdminKeyID, Scopes: []string{tether.ScopeAdmin}}, nil
	}
	id := hex.EncodeToString(h[:])
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < s.cfg.KeyCacheTTL {
		if c.caller == nil {
			return nil, errBadKey
		}
		return c.caller, nil
	}
	k, err := s.keys.KeyBySecret(ctx, secret)
	if err != nil && tether.ErrorCode(err) != tether.EUNAUTHORIZED {
		s.log.Warn("push api: key lookup failed", "err", err)
		return nil, tether.Errorf(tether.EUNAVAILABLE, "API keys cannot be checked right now; retry later")
	}
	s.mu.Lock()
	if len(s.cache) >= maxCachedKeys {
		clear(s.cache)
	}
	s.cache[id] = cachedKey{caller: k, at: now}
	s.mu.Unlock()
	if err != nil {
		return nil, errBadKey
	}
	return k, nil
}

var errBadKey = tether.Errorf(tether.EUNAUTHORIZED, "the API key is invalid or revoked")

// CreateKey creates a key in the store.
func (s *Service) CreateKey(ctx context.Context, k tether.NewAPIKey) (*tether.CreatedAPIKey, error) {
	return s.keys.CreateKey(ctx, k)
}

// Keys lists keys from the store.
func (s *Service) Keys(ctx context.Context, cursor string, limit int) (*tether.APIKeyPage, error) {
	return s.keys.Keys(ctx, cursor, limit)
}

// RevokeKey revokes a key in the store and drops it from this replica's
// cache at once; other replicas drop it within KeyCacheTTL.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	if id == AdminKeyID {
		return tether.Errorf(tether.EINVALID, "the bootstrap admin key is revoked by removing TETHER_ADMIN_KEY")
	}
	if err := s.keys.RevokeKey(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	for h, c := range s.cache {
		if c.caller != nil && c.caller.KeyID == id {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	return nil
}

// ---- Rate limits ----

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
	res, err := s.lim.AllowN(ctx, s.rk.Prefix+"pushrate:"+by.KeyID, limit, n)
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

// ---- Pushes ----

// push is one validated push request.
type push struct {
	req      tether.PushRequest // normalised: users and platforms sorted and unique, payload compact
	ttl      time.Duration
	hash     string // of the normalised request, for idempotency conflicts
	id       string
	idemKey  string // Redis key of the idempotency record; "" without one
	setNX    *redis.BoolCmd
	get      *redis.StringCmd
	dupOf    string // the earlier push this one repeats
	targeted int
}

// Push sends one push.
func (s *Service) Push(ctx context.Context, by tether.KeyCaller, p tether.PushRequest) (*tether.PushResult, error) {
	items := s.pushMany(ctx, by, []tether.PushRequest{p})
	return items[0].Result, items[0].Err
}

// PushBatch sends up to tether.MaxPushBatch pushes; each succeeds or fails alone.
func (s *Service) PushBatch(ctx context.Context, by tether.KeyCaller, ps []tether.PushRequest) ([]tether.PushBatchItem, error) {
	if len(ps) == 0 || len(ps) > tether.MaxPushBatch {
		return nil, tether.Errorf(tether.EINVALID, "pushes must hold 1 to %d pushes", tether.MaxPushBatch)
	}
	return s.pushMany(ctx, by, ps), nil
}

func (s *Service) pushMany(ctx context.Context, by tether.KeyCaller, reqs []tether.PushRequest) []tether.PushBatchItem {
	out := make([]tether.PushBatchItem, len(reqs))
	now := time.Now()
	var transient []*push
	var pos []int // index in reqs of each transient push
	for i, r := range reqs {
		p, err := normalise(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		p.id = newPushID()
		if p.req.IdempotencyKey != "" {
			kh := sha256.Sum256([]byte(p.req.IdempotencyKey))
			p.idemKey = s.rk.PushIdempotency(by.KeyID, hex.EncodeToString(kh[:16]))
		}
		if p.req.Persist {
			res, err := s.persisted(ctx, by, p, now)
			out[i] = tether.PushBatchItem{Result: res, Err: err}
			continue
		}
		transient = append(transient, p)
		pos = append(pos, i)
	}
	if len(transient) > 0 {
		for k, item := range s.transient(ctx, by, transient, now) {
			out[pos[k]] = item
		}
	}
	return out
}

// transient sends transient pushes: one round trip for the idempotency
// records and the route lookup, one for the statuses and the stream entries,
// and one more only to read the status of repeated idempotency keys.
func (s *Service) transient(ctx context.Context, by tether.KeyCaller, ps []*push, now time.Time) []tether.PushBatchItem {
	out := make([]tether.PushBatchItem, len(ps))
	var uids []int64
	for _, p := range ps {
		uids = append(uids, p.req.UserIDs...)
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	live, err := s.reg.LookupWith(ctx, uids, func(pipe redis.Pipeliner) {
		for _, p := range ps {
			if p.idemKey != "" {
				p.setNX = pipe.SetNX(ctx, p.idemKey, p.id+"|"+p.hash, tether.PushIdempotencyWindow)
				p.get = pipe.Get(ctx, p.idemKey)
			}
		}
	})
	if err != nil {
		for i := range out {
			out[i].Err = unavailable(s.log, err)
		}
		return out
	}
	var jobs []stream.NodeJob
	var fresh []*push
	for i, p := range ps {
		if p.idemKey != "" {
			if err := s.claimed(p); err != nil {
				out[i].Err = err
				continue
			}
			if p.dupOf != "" {
				continue
			}
		}
		j := job.Job{
			ID: p.id, Kind: job.KindPush, Body: p.req.Payload, PushID: p.id, Platforms: p.req.Platforms,
			EnqueuedMS: now.UnixMilli(), ExpiresMS: now.Add(p.ttl).UnixMilli(),
		}
		for _, u := range p.req.UserIDs {
			j.Targets = append(j.Targets, job.Target{UserID: u})
		}
		for _, nj := range route.PlanByNode(j, live, nil) {
			p.targeted += len(nj.Job.Targets)
			jobs = append(jobs, nj)
		}
		fresh = append(fresh, p)
	}
	// The statuses go first in the round trip: Redis runs a pipeline in
	// order, so a node that reads a job finds its status to count into.
	pipe := s.rdb.Pipeline()
	for _, p := range fresh {
		s.queueStatus(ctx, pipe, by, p.id, tether.PushTransient, p.req.CollapseKey, now, p.ttl, p.targeted)
	}
	err = s.streams.Queue(ctx, pipe, jobs)
	if err == nil && pipe.Len() > 0 {
		_, err = pipe.Exec(ctx)
	}
	if err != nil {
		s.forget(fresh)
		err = unavailable(s.log, err)
	}
	for i, p := range ps {
		switch {
		case out[i].Err != nil:
		case p.dupOf != "":
			// filled below
		case err != nil:
			out[i].Err = err
		default:
			out[i].Result = &tether.PushResult{PushID: p.id, Targeted: p.targeted}
		}
	}
	s.fillDuplicates(ctx, ps, out)
	return out
}

// claimed reads the outcome of p's idempotency record: p's own (a new
// push), an earlier identical push (dupOf), or a conflict.
func (s *Service) claimed(p *push) error {
	v, err := p.get.Result()
	if err != nil {
		return unavailable(s.log, err)
	}
	if p.setNX.Val() && v == p.id+"|"+p.hash {
		return nil
	}
	id, hash, _ := strings.Cut(v, "|")
	if hash != p.hash {
		return tether.Errorf(tether.ECONFLICT, "idempotency_key was used within 24 h for a different push (%s)", id)
	}
	p.dupOf = id
	return nil
}

// fillDuplicates answers repeated idempotency keys with the original push.
func (s *Service) fillDuplicates(ctx context.Context, ps []*push, out []tether.PushBatchItem) {
	pipe := s.rdb.Pipeline()
	gets := map[int]*redis.StringCmd{}
	for i, p := range ps {
		if p.dupOf != "" && out[i].Err == nil {
			gets[i] = pipe.HGet(ctx, s.rk.PushStatus(p.dupOf), "t")
		}
	}
	if len(gets) == 0 {
		return
	}
	_, _ = pipe.Exec(ctx) // a missing status (the original is still being sent) reads as 0 targeted
	for i, g := range gets {
		n, _ := strconv.Atoi(g.Val())
		out[i].Result = &tether.PushResult{PushID: ps[i].dupOf, Targeted: n, Duplicate: true}
	}
}

// forget removes the idempotency records of pushes that could not be sent,
// so a retry sends them; best effort.
func (s *Service) forget(ps []*push) {
	var keys []string
	for _, p := range ps {
		if p.idemKey != "" {
			keys = append(keys, p.idemKey)
		}
	}
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.rdb.Del(ctx, keys...).Err()
}

// queueStatus writes a push's status hash. It lives as long as the push can
// still be delivered, and at least as long as its idempotency record.
func (s *Service) queueStatus(ctx context.Context, pipe redis.Pipeliner, by tether.KeyCaller, id, mode, collapse string, now time.Time, ttl time.Duration, targeted int) {
	key := s.rk.PushStatus(id)
	pipe.HSet(ctx, key, "k", by.KeyID, "m", mode, "c", now.UnixMilli(), "x", now.Add(ttl).UnixMilli(), "ck", collapse, "t", targeted)
	pipe.Expire(ctx, key, max(tether.PushIdempotencyWindow, ttl+time.Hour))
}

// persisted stores a push in the targets' timelines. Its idempotency record
// is claimed first, in its own round trip: persisted pushes write to the
// database anyway.
func (s *Service) persisted(ctx context.Context, by tether.KeyCaller, p *push, now time.Time) (*tether.PushResult, error) {
	if s.persist == nil {
		return nil, tether.Errorf(tether.EUNAVAILABLE, "persisted pushes are not available on this server")
	}
	if p.idemKey != "" {
		pipe := s.rdb.Pipeline()
		p.setNX = pipe.SetNX(ctx, p.idemKey, p.id+"|"+p.hash, tether.PushIdempotencyWindow)
		p.get = pipe.Get(ctx, p.idemKey)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable(s.log, err)
		}
		if err := s.claimed(p); err != nil {
			return nil, err
		}
		if p.dupOf != "" {
			out := []tether.PushBatchItem{{}}
			s.fillDuplicates(ctx, []*push{p}, out)
			return out[0].Result, nil
		}
	}
	// Collapse index: per API key and collapse key, user -> version of the
	// newest push entry, in Redis beside the status (read before, written
	// after the transaction; best effort: a lost index only leaves an older
	// push uncollapsed).
	var ckKey string
	var collapse map[int64]uint64
	if p.req.CollapseKey != "" {
		h := sha256.Sum256([]byte(p.req.CollapseKey))
		ckKey = s.rk.Prefix + "pushck:" + by.KeyID + ":" + hex.EncodeToString(h[:16])
		collapse = s.collapseIndex(ctx, ckKey, p.req.UserIDs)
	}
	versions, err := s.persist.PersistPush(ctx, PersistedPush{
		PushID: p.id, UserIDs: p.req.UserIDs, Platforms: p.req.Platforms, Payload: p.req.Payload,
		CollapseKey: p.req.CollapseKey, CreatedAt: now, ExpiresAt: now.Add(p.ttl), Collapse: collapse,
	})
	if err != nil {
		s.forget([]*push{p})
		return nil, err
	}
	n := len(versions)
	pipe := s.rdb.Pipeline()
	s.queueStatus(ctx, pipe, by, p.id, tether.PushPersisted, p.req.CollapseKey, now, p.ttl, n)
	if ckKey != "" && n > 0 {
		args := make([]any, 0, 2*n)
		for uid, v := range versions {
			args = append(args, strconv.FormatInt(uid, 10), v)
		}
		pipe.HSet(ctx, ckKey, args...)
		pipe.Expire(ctx, ckKey, time.Duration(tether.MaxPushTTL)*time.Second+time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// Stored and on its way; only its status (or collapse index) is missing.
		s.log.Warn("push api: status of a persisted push not written", "push", p.id, "err", err)
	}
	return &tether.PushResult{PushID: p.id, Targeted: n}, nil
}

// collapseIndex reads the versions of the users' newest push entries of a
// collapse key; nil if Redis does not answer.
func (s *Service) collapseIndex(ctx context.Context, key string, users []int64) map[int64]uint64 {
	fields := make([]string, len(users))
	for i, u := range users {
		fields[i] = strconv.FormatInt(u, 10)
	}
	vals, err := s.rdb.HMGet(ctx, key, fields...).Result()
	if err != nil {
		s.log.Warn("push api: collapse index unreadable; older pushes stay uncollapsed", "err", err)
		return nil
	}
	out := map[int64]uint64{}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if ver, err := strconv.ParseUint(str, 10, 64); err == nil {
				out[users[i]] = ver
			}
		}
	}
	return out
}

// Broadcast sends a push to every live session (of the platforms, if any):
// its status and the broadcast stream entry in one round trip. Nodes report
// how many sessions they queued it to, which is both its targeted and its
// delivered count.
func (s *Service) Broadcast(ctx context.Context, by tether.KeyCaller, b tether.BroadcastRequest) (*tether.PushResult, error) {
	platforms, err := checkPlatforms(b.Platforms)
	if err != nil {
		return nil, err
	}
	payload, err := checkPayload(b.Payload)
	if err != nil {
		return nil, err
	}
	ttl, err := checkTTL(b.TTLSeconds, tether.DefaultTransientTTL)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	id := newPushID()
	pipe := s.rdb.Pipeline()
	s.queueStatus(ctx, pipe, by, id, tether.PushBroadcast, "", now, ttl, 0)
	if _, err := s.streams.QueueBroadcast(ctx, pipe, job.Job{
		ID: id, Kind: job.KindBroadcast, Body: payload, PushID: id, Platforms: platforms,
		EnqueuedMS: now.UnixMilli(), ExpiresMS: now.Add(ttl).UnixMilli(),
	}); err != nil {
		return nil, err
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(s.log, err)
	}
	return &tether.PushResult{PushID: id}, nil
}

// Status reads a push's status hash. Pushes of other keys are not found.
func (s *Service) Status(ctx context.Context, by tether.KeyCaller, id string) (*tether.PushStatus, error) {
	if !validPushID(id) {
		return nil, tether.Errorf(tether.ENOTFOUND, "push not found")
	}
	h, err := s.rdb.HGetAll(ctx, s.rk.PushStatus(id)).Result()
	if err != nil {
		return nil, unavailable(s.log, err)
	}
	if len(h) == 0 || h["k"] != by.KeyID {
		return nil, tether.Errorf(tether.ENOTFOUND, "push not found (unknown, another key's, or its status expired)")
	}
	num := func(f string) int64 { v, _ := strconv.ParseInt(h[f], 10, 64); return v }
	st := &tether.PushStatus{
		PushID: id, Mode: h["m"],
		CreatedAt: time.UnixMilli(num("c")).UTC(), ExpiresAt: time.UnixMilli(num("x")).UTC(),
		Targeted: num("t"), Delivered: num(route.PushDelivered), Acknowledged: num(route.PushAcknowledged),
	}
	if st.Mode == tether.PushBroadcast {
		st.Targeted = st.Delivered
	}
	return st, nil
}

func unavailable(log *slog.Logger, err error) error {
	var e *tether.Error
	if errors.As(err, &e) {
		return err
	}
	log.Warn("push api: redis failed", "err", err)
	return tether.Errorf(tether.EUNAVAILABLE, "the push service cannot reach Redis; retry later")
}

// newPushID returns "p_" and 24 hex digits (96 random bits).
func newPushID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "p_" + hex.EncodeToString(b[:])
}

func validPushID(id string) bool {
	if len(id) != 26 || !strings.HasPrefix(id, "p_") {
		return false
	}
	_, err := hex.DecodeString(id[2:])
	return err == nil
}
