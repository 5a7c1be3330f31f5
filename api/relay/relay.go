// Package relay moves committed outbox rows from the database to the push
// nodes' Redis streams: the second half of the transactional outbox.
//
// A batch is claimed in a database transaction (api/store ClaimOutbox), its
// newest versions are announced in the routing registry, one job per row and
// node is appended to each node that holds a live session of a target, and
// only then are the rows deleted. If Redis fails, the transaction rolls back
// and the rows are published by a later batch, so nothing committed is lost;
// a crash after publishing but before the commit publishes a batch twice
// (clients drop versions they already have).
//
// With NotifyOffline set, each message row also queues one offline
// notification (a webhook delivery, sent by api/webhook) per recipient with
// no live session, in the same transaction that deletes the row.
package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
)

// Config tunes a Relay. Zero values take the defaults.
type Config struct {
	BatchSize    int           // rows per claim; default 256
	PollInterval time.Duration // wait between empty claims when not kicked; default 500ms
	// Linger is how long a kicked relay waits for more commits before it
	// claims (default 5ms; negative: none). Sends commit in batches every
	// millisecond or two under load, and a claim per commit would cost a
	// transaction and two Redis round trips for a handful of rows.
	Linger time.Duration

	// NotifyOffline queues a webhook delivery for each recipient of a
	// message who has no live session (never its sender). Off: nothing is queued.
	NotifyOffline bool
	// Notified (may be nil) is called after a batch that queued deliveries
	// committed, to wake the webhook worker.
	Notified func()
	// Pool (may be nil) is the relay's bulkhead; it reports the relay busy
	// while a batch runs.
	Pool *bulkhead.Pool
	// FanoutLimit (may be nil: no limit) is the group fan-out
	// degradation switch: a group entry for more members than it returns
	// (when above 0) is announced but not pushed live; its members get it
	// by sync. A 1:1 entry is always pushed. Rows that do not name their
	// conversation's kind (written before it was carried) are judged as
	// before: more than two targets make a group entry.
	FanoutLimit func() int64
}

const (
	defaultBatchSize    = 256
	defaultPollInterval = 500 * time.Millisecond
	defaultLinger       = 5 * time.Millisecond
	batchBudget         = 250 * time.Millisecond
	batchTimeout        = 30 * time.Second
	minBackoff          = 100 * time.Millisecond
	maxBackoff          = 10 * time.Second
)

// Outbox is where the relay claims committed rows (api/store.DB).
type Outbox interface {
	// ClaimOutboxNotify hands up to limit rows to publish in a transaction
	// that deletes them and queues the notices publish returns, or keeps
	// them all if publish fails. It returns how many rows it handed over.
	ClaimOutboxNotify(ctx context.Context, limit int, publish func([]store.OutboxRow) ([]store.OfflineNotice, error)) (int, error)
	// OutboxLen counts the rows waiting (up to store.OutboxLenMax).
	OutboxLen(ctx context.Context) (int64, error)
}

// Router records users' newest versions and finds their live sessions
// (shared/route.Registry).
type Router interface {
	Announce(ctx context.Context, versions map[int64]uint64) (map[int64][]route.Session, error)
}

var (
	_ Outbox = (*store.DB)(nil)
	_ Router = (*route.Registry)(nil)
)

// Relay publishes the outbox. Run it in one goroutine per process; several
// processes may relay the same MySQL database in parallel.
type Relay struct {
	cfg  Config
	db   Outbox
	reg  Router
	pub  stream.Publisher
	m    *metrics.Metrics
	log  *slog.Logger
	kick chan struct{}

	published atomic.Uint64
	jobs      prometheus.Counter
	rows      prometheus.Counter
	dropped   prometheus.Counter
	notices   prometheus.Counter
	backlog   prometheus.Gauge // rows waiting, measured every backlogEvery
}

// New returns a relay that claims rows from db, announces their versions in
// reg and publishes their jobs with pub. m may be nil; otherwise the relay
// registers its counters in m, so use one Metrics per Relay.
func New(cfg Config, db Outbox, reg Router, pub stream.Publisher, m *metrics.Metrics, log *slog.Logger) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.Linger == 0 {
		cfg.Linger = defaultLinger
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Relay{
		cfg: cfg, db: db, reg: reg, pub: pub, m: m, log: log.With("component", "relay"),
		kick: make(chan struct{}, 1),
		jobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_relay_jobs_published_total", Help: "Push jobs the outbox relay appended to node streams.",
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_relay_rows_total", Help: "Outbox rows the relay handled (published, or for offline users only announced).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_relay_rows_dropped_total", Help: "Outbox rows the relay dropped because their payload could not be decoded.",
		}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_relay_offline_notices_total", Help: "Offline notifications (webhook deliveries) the relay queued for recipients without a live session.",
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tether_outbox_backlog", Help: "Outbox rows waiting to be relayed (counted up to 100000), as this relay last measured.",
		}),
	}
	if m != nil {
		m.Register(r.jobs, r.rows, r.dropped, r.notices, r.backlog)
	}
	return r
}

// Published is the number of jobs this relay has appended to node streams.
func (r *Relay) Published() uint64 { return r.published.Load() }

// Kick wakes Run at once, e.g. after a commit that wrote outbox rows. It never blocks.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx is done, then returns nil. It claims batches while
// they come back full, otherwise waits for Kick or PollInterval; after a
// failure it backs off exponentially (kicks do not cut a backoff short).
func (r *Relay) Run(ctx context.Context) error {
	r.log.Info("relay started", "batch_size", r.cfg.BatchSize, "poll_interval", r.cfg.PollInterval)
	defer r.log.Info("relay stopped")
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var measured time.Time
	for {
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(measured) >= backlogEvery {
			measured = time.Now()
			r.measureBacklog(ctx)
		}
		n, err := r.pooledBatch(ctx)
		var kick <-chan struct{} = r.kick
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			r.log.Warn("relay batch failed; rows stay in the outbox", "err", err, "retry_in", backoff)
			wait, kick = backoff, nil
		case n == r.cfg.BatchSize:
			backoff = 0
			continue
		default:
			backoff = 0
			wait = r.cfg.PollInterval
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			if !timer.Stop() {
				<-timer.C
			}
			if r.cfg.Linger > 0 {
				timer.Reset(r.cfg.Linger)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		case <-timer.C:
		}
	}
}

// backlogEvery is how often Run counts the outbox: the live table's
// outbox backlog, once a second at the poll interval's pace.
const backlogEvery = time.Second

// measureBacklog sets the backlog gauge; a failure leaves the last value
// (the batch that follows reports the database's trouble).
func (r *Relay) measureBacklog(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, backlogEvery)
	defer cancel()
	if n, err := r.db.OutboxLen(ctx); err == nil {
		r.backlog.Set(float64(n))
	}
}

// Drain publishes batches until the outbox is empty, e.g. before shutdown.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		n, err := r.batch(ctx)
		if err != nil {
			return err
		}
		if n < r.cfg.BatchSize {
			return nil
		}
	}
}

// batch claims and publishes one batch, returning how many rows it handled.
func (r *Relay) batch(ctx context.Context) (int, error) {
	var done func(error)
	if r.m != nil {
		done = r.m.Begin(metrics.LayerRelay, "batch", batchBudget)
	}
	// A started batch finishes even when ctx ends: cancelling between the
	// publish and the commit would roll back rows already published.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	queued := 0
	n, err := r.db.ClaimOutboxNotify(bctx, r.cfg.BatchSize, func(rows []store.OutboxRow) ([]store.OfflineNotice, error) {
		notices, err := r.publish(bctx, rows)
		queued = len(notices)
		return notices, err
	})
	if done != nil {
		done(err)
	}
	if err == nil && queued > 0 {
		r.notices.Add(float64(queued))
		if r.cfg.Notified != nil {
			r.cfg.Notified()
		}
	}
	return n, err
}

type decoded struct {
	id      int64
	created time.Time
	p       store.OutboxPayload
}

// publish announces the batch's versions and appends its jobs, all jobs in
// one pipeline, and returns the offline notices to queue. An error leaves
// the whole batch in the outbox.
func (r *Relay) publish(ctx context.Context, rows []store.OutboxRow) ([]store.OfflineNotice, error) {
	batch := make([]decoded, 0, len(rows))
	versions := make(map[int64]uint64)
	for _, row := range rows {
		p, err := row.Decode()
		if err != nil {
			// Retrying cannot fix it; drop it rather than block the outbox.
			r.log.Error("dropping undecodable outbox row", "outbox_id", row.ID, "err", err)
			r.dropped.Inc()
			continue
		}
		batch = append(batch, decoded{id: row.ID, created: row.CreatedAt, p: p})
		for _, t := range p.Targets {
			versions[t.UserID] = max(versions[t.UserID], t.Version)
		}
	}
	if len(batch) == 0 {
		return nil, nil
	}
	// Versions are written before sessions are read; see route.Registry.AddSession.
	sessions, err := r.reg.Announce(ctx, versions)
	if err != nil {
		return nil, err
	}
	var jobs []stream.NodeJob
	for _, d := range batch {
		if d.p.PushID == "" && r.fanoutDegraded(d.p) {
			continue
		}
		byNode := make(map[string][]job.Target)
		for _, t := range d.p.Targets {
			for _, s := range sessions[t.UserID] {
				ts := byNode[s.NodeID]
				// One target per user and node: it reaches all of the user's devices there.
				if !slices.ContainsFunc(ts, func(x job.Target) bool { return x.UserID == t.UserID }) {
					byNode[s.NodeID] = append(ts, job.Target{UserID: t.UserID, Version: t.Version})
				}
			}
		}
		nodes := make([]string, 0, len(byNode))
		for n := range byNode {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		for _, node := range nodes {
			jobs = append(jobs, stream.NodeJob{Node: node, Job: job.Job{
				ID: strconv.FormatInt(d.id, 10), Kind: job.KindMessage, Targets: byNode[node],
				Body: d.p.Body, EnqueuedMS: d.created.UnixMilli(), PushID: d.p.PushID,
			}})
		}
	}
	if err := r.pub.Publish(ctx, jobs); err != nil {
		return nil, err
	}
	var notices []store.OfflineNotice
	if r.cfg.NotifyOffline {
		for _, d := range batch {
			notices = r.offline(d, sessions, notices)
		}
	}
	r.published.Add(uint64(len(jobs)))
	r.jobs.Add(float64(len(jobs)))
	r.rows.Add(float64(len(batch)))
	r.log.Debug("relay batch published", "rows", len(rows), "jobs", len(jobs), "offline_notices", len(notices))
	return notices, nil
}

// offline appends to out a notice for each target of a message row that has
// no live session, except the message's sender. Rows of other kinds (recall,
// read, group events, ...) notify no one. Who sent which message where is
// typed in the row (store.OutboxMessage); only the message's JSON, which
// the notice carries, is taken from the body.
func (r *Relay) offline(d decoded, sessions map[int64][]route.Session, out []store.OfflineNotice) []store.OfflineNotice {
	if d.p.Kind != tether.EntryMessage {
		return out
	}
	var body struct {
		Message json.RawMessage `json:"message"`
	}
	m := d.p.Message
	if json.Unmarshal(d.p.Body, &body) != nil || len(body.Message) == 0 {
		m = nil
	} else if m == nil {
		// A row written before the ids were carried in it.
		m = new(store.OutboxMessage)
		if json.Unmarshal(body.Message, m) != nil {
			m = nil
		}
	}
	if m == nil || m.ID <= 0 {
		r.log.Warn("message outbox row without a readable message; no offline notice", "outbox_id", d.id)
		return out
	}
	for _, t := range d.p.Targets {
		if t.UserID == m.SenderID || len(sessions[t.UserID]) > 0 {
			continue
		}
		out = append(out, store.OfflineNotice{MessageID: m.ID, UserID: t.UserID, ConversationID: m.ConversationID, Message: body.Message})
	}
	return out
}

// pooledBatch runs one batch holding the relay's bulkhead worker, so the
// pool reports the relay busy while a batch runs. The relay is the pool's
// only user and runs one batch at a time, so the worker is always free.
func (r *Relay) pooledBatch(ctx context.Context) (int, error) {
	if r.cfg.Pool != nil {
		if release, ok := r.cfg.Pool.TryAcquire(); ok {
			defer release()
		}
	}
	return r.batch(ctx)
}

// fanoutDegraded reports whether the entry of p is kept from live push by
// the fan-out limit: a group entry whose members (its targets: the members
// whose timelines got it) number more than the limit, whatever the size of
// the group, two included. A 1:1 entry never is, nor a persisted push of
// the push API (the caller skips those). A row that does not name its
// conversation's kind counts as a group entry above two targets, as
// before the kind was carried.
func (r *Relay) fanoutDegraded(p store.OutboxPayload) bool {
	n := len(p.Targets)
	switch p.Conversation {
	case store.OutboxDirect:
		return false
	case store.OutboxGroup:
	default:
		if n <= 2 {
			return false
		}
	}
	if r.cfg.FanoutLimit == nil {
		return false
	}
	limit := r.cfg.FanoutLimit()
	return limit > 0 && int64(n) > limit
}
