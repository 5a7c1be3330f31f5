package pushapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/pushstatus"
)

// Sending pushes: transient ones through Redis alone (one run of the send
// script, send_script.go, which also spends the key's rate), persisted ones
// through the Persister, and broadcasts.

// push is one validated push request.
type push struct {
	req      tether.PushRequest // normalised: users and platforms sorted and unique, payload compact
	ttl      time.Duration
	hash     string // of the normalised request, for idempotency conflicts
	id       string
	claim    *Claim // its idempotency record; nil without one
	dupOf    string // the earlier push this one repeats
	targeted int
}

// Push sends one push, spending one push of the key's rate.
func (s *Service) Push(ctx context.Context, by tether.KeyCaller, p tether.PushRequest) (*tether.PushResult, error) {
	items, err := s.pushMany(ctx, by, []tether.PushRequest{p})
	if err != nil {
		return nil, err
	}
	return items[0].Result, items[0].Err
}

// PushBatch sends up to tether.MaxPushBatch pushes; each succeeds or fails
// alone, but the batch spends len(ps) of the key's rate and is refused whole
// when over it.
func (s *Service) PushBatch(ctx context.Context, by tether.KeyCaller, ps []tether.PushRequest) ([]tether.PushBatchItem, error) {
	if len(ps) == 0 || len(ps) > tether.MaxPushBatch {
		return nil, tether.Errorf(tether.EINVALID, "pushes must hold 1 to %d pushes", tether.MaxPushBatch)
	}
	return s.pushMany(ctx, by, ps)
}

// pushMany sends reqs. The rate is spent by the send script when every
// valid push is transient (the usual case: one round trip in all), else up
// front by Allow, before anything is persisted.
func (s *Service) pushMany(ctx context.Context, by tether.KeyCaller, reqs []tether.PushRequest) ([]tether.PushBatchItem, error) {
	out := make([]tether.PushBatchItem, len(reqs))
	now := time.Now()
	ps := make([]*push, len(reqs))
	transients, persisted := 0, 0
	for i, r := range reqs {
		p, err := normalise(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		p.id = newPushID()
		if p.req.IdempotencyKey != "" {
			kh := sha256.Sum256([]byte(p.req.IdempotencyKey))
			p.claim = &Claim{KeyID: by.KeyID, Key: hex.EncodeToString(kh[:16]), Value: p.id + "|" + p.hash}
		}
		ps[i] = p
		if p.req.Persist {
			persisted++
		} else {
			transients++
		}
	}
	spend := Spend{KeyID: by.KeyID, N: len(reqs)}
	limit, limited := s.limitOf(by)
	spend.Limit = limit
	if !limited {
		spend.N = 0
	}
	if spend.N > 0 && (persisted > 0 || transients == 0) {
		if err := s.Allow(ctx, by, spend.N); err != nil {
			return nil, err
		}
		spend.N = 0
	}
	var transient []*push
	var pos []int // index in reqs of each transient push
	for i, p := range ps {
		switch {
		case p == nil:
		case p.req.Persist:
			res, err := s.persisted(ctx, by, p, now)
			out[i] = tether.PushBatchItem{Result: res, Err: err}
		default:
			transient = append(transient, p)
			pos = append(pos, i)
		}
	}
	if len(transient) > 0 {
		items, err := s.transient(ctx, by, spend, transient, now)
		if err != nil {
			return nil, err
		}
		for k, item := range items {
			out[pos[k]] = item
		}
	}
	return out, nil
}

// transient sends transient pushes in one run of the send script (which
// spends spend), and one more round trip only to read the status of
// repeated idempotency keys. Over the rate, it returns the error alone.
func (s *Service) transient(ctx context.Context, by tether.KeyCaller, spend Spend, ps []*push, now time.Time) ([]tether.PushBatchItem, error) {
	out := make([]tether.PushBatchItem, len(ps))
	tps := make([]*TransientPush, len(ps))
	for i, p := range ps {
		j := job.Job{
			ID: p.id, Kind: job.KindPush, Body: p.req.Payload, PushID: p.id, Platforms: p.req.Platforms,
			EnqueuedMS: now.UnixMilli(), ExpiresMS: now.Add(p.ttl).UnixMilli(),
			Targets: make([]job.Target, len(p.req.UserIDs)),
		}
		for k, u := range p.req.UserIDs {
			j.Targets[k] = job.Target{UserID: u}
		}
		tps[i] = &TransientPush{Claim: p.claim, Job: j, Status: newStatus(by, p.id, tether.PushTransient, p.req.CollapseKey, now, p.ttl, 0)}
	}
	allowed, retry, err := s.backend.Transient(ctx, spend, tps)
	if err != nil {
		// The script may have claimed records before it failed: give back
		// the ones still ours, so a retry sends.
		s.forget(ps)
		err = unavailable(s.log, err)
		for i := range out {
			out[i].Err = err
		}
		return out, nil
	}
	if !allowed {
		return nil, rateLimited(spend.Limit, retry)
	}
	for i, p := range ps {
		p.targeted = tps[i].Targeted
		if p.claim != nil {
			if err := s.claimed(p); err != nil {
				out[i].Err = err
				continue
			}
			if p.dupOf != "" {
				continue // filled below
			}
		}
		out[i].Result = &tether.PushResult{PushID: p.id, Targeted: p.targeted}
	}
	s.fillDuplicates(ctx, ps, out)
	return out, nil
}

// claimed reads the outcome of p's idempotency record: p's own (a new
// push), an earlier identical push (dupOf), or a conflict.
func (s *Service) claimed(p *push) error {
	if p.claim.Holder == p.claim.Value {
		return nil
	}
	id, hash, _ := strings.Cut(p.claim.Holder, "|")
	if hash != p.hash {
		return tether.Errorf(tether.ECONFLICT, "idempotency_key was used within 24 h for a different push (%s)", id)
	}
	p.dupOf = id
	return nil
}

// fillDuplicates answers repeated idempotency keys with the original push.
func (s *Service) fillDuplicates(ctx context.Context, ps []*push, out []tether.PushBatchItem) {
	var ids []string
	for i, p := range ps {
		if p.dupOf != "" && out[i].Err == nil {
			ids = append(ids, p.dupOf)
		}
	}
	if len(ids) == 0 {
		return
	}
	// A missing status (the original is still being sent) reads as 0 targeted.
	targeted := s.backend.Targeted(ctx, ids)
	for i, p := range ps {
		if p.dupOf != "" && out[i].Err == nil {
			out[i].Result = &tether.PushResult{PushID: p.dupOf, Targeted: int(targeted[p.dupOf]), Duplicate: true}
		}
	}
}

// forget removes the idempotency records of pushes that could not be sent,
// so a retry sends them; best effort.
func (s *Service) forget(ps []*push) {
	var claims []*Claim
	for _, p := range ps {
		if p.claim != nil {
			claims = append(claims, p.claim)
		}
	}
	if len(claims) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.backend.Forget(ctx, claims)
}

// newStatus is a push's status. It lives as long as the push can still be
// delivered, and at least as long as its idempotency record.
func newStatus(by tether.KeyCaller, id, mode, collapse string, now time.Time, ttl time.Duration, targeted int) NewStatus {
	return NewStatus{ID: id, TTL: max(tether.PushIdempotencyWindow, ttl+time.Hour), Status: pushstatus.Status{
		KeyID: by.KeyID, Mode: mode, CreatedAt: now, ExpiresAt: now.Add(ttl), CollapseKey: collapse, Targeted: int64(targeted),
	}}
}

// persisted stores a push in the targets' timelines. Its idempotency record
// is claimed first, in its own round trip: persisted pushes write to the
// database anyway.
func (s *Service) persisted(ctx context.Context, by tether.KeyCaller, p *push, now time.Time) (*tether.PushResult, error) {
	if s.persist == nil {
		return nil, tether.Errorf(tether.EUNAVAILABLE, "persisted pushes are not available on this server")
	}
	if p.claim != nil {
		if err := s.backend.Claim(ctx, []*Claim{p.claim}); err != nil {
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
	var ck Collapse
	var collapse map[int64]uint64
	if p.req.CollapseKey != "" {
		h := sha256.Sum256([]byte(p.req.CollapseKey))
		ck = Collapse{KeyID: by.KeyID, Key: hex.EncodeToString(h[:16])}
		var err error
		if collapse, err = s.backend.Collapsed(ctx, ck, p.req.UserIDs); err != nil {
			s.log.Warn("push api: collapse index unreadable; older pushes stay uncollapsed", "err", err)
		}
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
	if err := s.backend.Persisted(ctx, newStatus(by, p.id, tether.PushPersisted, p.req.CollapseKey, now, p.ttl, n), ck, versions); err != nil {
		// Stored and on its way; only its status (or collapse index) is missing.
		s.log.Warn("push api: status of a persisted push not written", "push", p.id, "err", err)
	}
	return &tether.PushResult{PushID: p.id, Targeted: n}, nil
}

// Broadcast sends a push to every live session (of the platforms, if any):
// its status and the broadcast stream entry in one round trip. Nodes report
// how many sessions they queued it to, which is both its targeted and its
// delivered count.
func (s *Service) Broadcast(ctx context.Context, by tether.KeyCaller, b tether.BroadcastRequest) (*tether.PushResult, error) {
	b, err := b.Normalize()
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(b.TTLSeconds) * time.Second
	now := time.Now()
	id := newPushID()
	if err := s.backend.Broadcast(ctx, newStatus(by, id, tether.PushBroadcast, "", now, ttl, 0), job.Job{
		ID: id, Kind: job.KindBroadcast, Body: b.Payload, PushID: id, Platforms: b.Platforms,
		EnqueuedMS: now.UnixMilli(), ExpiresMS: now.Add(ttl).UnixMilli(),
	}); err != nil {
		return nil, unavailable(s.log, err)
	}
	return &tether.PushResult{PushID: id}, nil
}

// Status reads a push's status hash. Pushes of other keys are not found.
func (s *Service) Status(ctx context.Context, by tether.KeyCaller, id string) (*tether.PushStatus, error) {
	if !validPushID(id) {
		return nil, tether.Errorf(tether.ENOTFOUND, "push not found")
	}
	h, ok, err := s.backend.Status(ctx, id)
	if err != nil {
		return nil, unavailable(s.log, err)
	}
	if !ok || h.KeyID != by.KeyID {
		return nil, tether.Errorf(tether.ENOTFOUND, "push not found (unknown, another key's, or its status expired)")
	}
	st := &tether.PushStatus{
		PushID: id, Mode: h.Mode, CreatedAt: h.CreatedAt, ExpiresAt: h.ExpiresAt,
		Targeted: h.Targeted, Delivered: h.Delivered, Acknowledged: h.Acknowledged,
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
