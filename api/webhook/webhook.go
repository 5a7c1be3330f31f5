// Package webhook sends offline notifications: when a persisted message
// reaches a user with no live push session, the relay queues a delivery
// (api/store ClaimOutboxNotify) and a Worker POSTs it to the operator's URL,
// who forwards it to APNs, FCM or anything else.
//
// Each request is signed with HMAC-SHA256 over "timestamp.body" and carries a
// stable Tether-Webhook-Id that receivers dedupe on: delivery is at least
// once. Network errors, 5xx, 408 and 429 are retried with exponential backoff
// and full jitter (a Retry-After answer is honoured) up to MaxAttempts; any
// other non-2xx answer fails the delivery at once. Failed deliveries stay in
// webhook_deliveries for inspection.
//
// Several API replicas run a Worker on the same database: a delivery is
// claimed with SKIP LOCKED and leased (its next attempt moved past the
// request timeout) in the claiming transaction, before it is sent, so no two
// workers send it at the same time.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/shared/metrics"
)

// Headers of a webhook request.
const (
	HeaderID        = "Tether-Webhook-Id"        // stable per delivery: the idempotency key
	HeaderTimestamp = "Tether-Webhook-Timestamp" // unix seconds, part of the signed string
	HeaderSignature = "Tether-Signature"         // "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
)

// TypeMessageOffline is the Type of the payload for a message that reached
// a user with no live session.
const TypeMessageOffline = "message.offline"

// Payload is the JSON body of a webhook request.
type Payload struct {
	ID        string          `json:"id"`         // equals the Tether-Webhook-Id header
	Type      string          `json:"type"`       // TypeMessageOffline
	UserID    int64           `json:"user_id"`    // the offline recipient
	Message   json.RawMessage `json:"message"`    // the tether.Message
	CreatedAt time.Time       `json:"created_at"` // when the delivery was queued
}

// DeliveryID is the stable id of the delivery of message msgID to userID.
func DeliveryID(msgID, userID int64) string {
	return "m" + strconv.FormatInt(msgID, 10) + "-u" + strconv.FormatInt(userID, 10)
}

// Sign returns the Tether-Signature value of body sent at timestamp (unix seconds).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a received request's signature headers against its body,
// as a Go receiver would: the signature must match and the timestamp be
// within tolerance of now (which stops replays of old requests).
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad %s header", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %d is outside the tolerance of %s", ts, tolerance)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}

// Config tunes a Worker. URL and Secret are required; zero values of the
// rest take the defaults.
type Config struct {
	URL         string        // http(s) URL the deliveries are POSTed to
	Secret      string        // HMAC key of Tether-Signature
	MaxAttempts int           // attempts before a retryable delivery fails; default 8
	Timeout     time.Duration // per request; default 5s
	Concurrency int           // requests in flight at most; default 8 (ignored with Pool)
	// Pool, when set, is the webhook's bulkhead: its workers bound the
	// requests in flight and report them busy (the queue is the backlog
	// table, so the pool queues nothing).
	Pool *bulkhead.Pool
	// On (may be nil: always on) is the webhook's degradation switch:
	// while it reports false nothing is claimed or sent, and deliveries
	// wait in the backlog table until it is on again.
	On           func() bool
	PollInterval time.Duration // wait between claims that found nothing, when not kicked; default 1s
	MinBackoff   time.Duration // ceiling of the first retry's delay; default 1s
	MaxBackoff   time.Duration // ceiling of any retry's delay, Retry-After included; default 1h
	// Jitter picks a retry delay up to its ceiling; default uniform in
	// [0, ceiling] ("full jitter"). Tests make it deterministic.
	Jitter func(ceiling time.Duration) time.Duration
	Client *http.Client // default: no redirects followed (a 3xx fails the delivery)
}

const (
	defaultMaxAttempts  = 8
	defaultTimeout      = 5 * time.Second
	defaultConcurrency  = 8
	defaultPollInterval = time.Second
	defaultMinBackoff   = time.Second
	defaultMaxBackoff   = time.Hour
	// leaseMargin is added to Timeout for a claim's lease: time to record
	// the outcome after the request ended.
	leaseMargin = 30 * time.Second
	// Delivered rows are kept this long (inspection), then pruned.
	retention     = 24 * time.Hour
	pruneInterval = 10 * time.Minute
	pruneBatch    = 1000
	gaugeInterval = 5 * time.Second
	maxErrBackoff = 30 * time.Second
	bodySnippet   = 200
)

// Worker claims due deliveries and sends them. Run it in one goroutine per
// process; any number of processes may work on the same database.
type Worker struct {
	cfg   Config
	db    *store.DB
	m     *metrics.Metrics
	log   *slog.Logger
	kick  chan struct{}
	freed chan struct{}

	sent    prometheus.Counter
	failed  prometheus.Counter
	retried prometheus.Counter
	backlog prometheus.Gauge
}

// New returns a worker for cfg. m may be nil; otherwise the worker registers
// its metrics in m, so use one Metrics per Worker.
func New(cfg Config, db *store.DB, m *metrics.Metrics, log *slog.Logger) (*Worker, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook: URL %q is not an absolute http(s) URL", cfg.URL)
	}
	if cfg.Secret == "" {
		return nil, errors.New("webhook: a secret is required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.Pool == nil {
		cfg.Pool = bulkhead.NewPool(bulkhead.Webhook, bulkhead.Size{Workers: cfg.Concurrency}, 0)
	}
	cfg.Concurrency = cfg.Pool.Size().Workers
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = defaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration { return rand.N(d + 1) }
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		cfg.Client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if log == nil {
		log = slog.Default()
	}
	w := &Worker{
		cfg: cfg, db: db, m: m, log: log.With("component", "webhook"),
		kick: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_webhook_sent_total", Help: "Offline-notification webhook deliveries the receiver accepted (2xx).",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_webhook_failed_total", Help: "Webhook deliveries given up: a non-retryable answer or too many attempts.",
		}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_webhook_retried_total", Help: "Webhook attempts that failed and were scheduled again.",
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tether_webhook_backlog", Help: "Webhook deliveries pending (due or waiting for a retry).",
		}),
	}
	if m != nil {
		m.Register(w.sent, w.failed, w.retried, w.backlog)
	}
	return w, nil
}

// Kick wakes Run at once, e.g. after the relay queued deliveries. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// lease is how long a claimed delivery stays invisible to other claims.
func (w *Worker) lease() time.Duration { return w.cfg.Timeout + leaseMargin }

// Run sends deliveries until ctx is done, then waits for the requests in
// flight (each bounded by Timeout) and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("webhook worker started", "url", redactURL(w.cfg.URL), "max_attempts", w.cfg.MaxAttempts,
		"timeout", w.cfg.Timeout, "concurrency", w.cfg.Concurrency)
	defer w.log.Info("webhook worker stopped")
	pool := w.cfg.Pool
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	errBackoff := time.Duration(0)
	var lastGauge, lastPrune time.Time
	for ctx.Err() == nil {
		now := time.Now()
		if now.Sub(lastGauge) >= gaugeInterval {
			lastGauge = now
			if n, err := w.db.WebhookBacklog(ctx); err == nil {
				w.backlog.Set(float64(n))
			}
		}
		if now.Sub(lastPrune) >= pruneInterval {
			lastPrune = now
			if n, err := w.db.PruneWebhooks(ctx, now.Add(-retention), pruneBatch); err != nil {
				w.log.Warn("pruning delivered webhooks failed", "err", err)
			} else if n > 0 {
				w.log.Debug("pruned delivered webhooks", "rows", n)
			}
		}
		free := pool.Free()
		if w.cfg.On != nil && !w.cfg.On() {
			// Degraded: claim nothing, look again after the poll interval.
			timer.Reset(w.cfg.PollInterval)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		}
		if free == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-w.freed:
			}
			continue
		}
		ds, err := w.db.ClaimWebhooks(ctx, free, w.lease())
		var wait time.Duration
		var kick <-chan struct{} = w.kick
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			errBackoff = min(max(2*errBackoff, 100*time.Millisecond), maxErrBackoff)
			w.log.Warn("claiming webhook deliveries failed", "err", err, "retry_in", errBackoff)
			wait, kick = errBackoff, nil
		case len(ds) == free:
			errBackoff = 0
			wait = -1 // there may be more due: claim again once a slot is free
		default:
			errBackoff = 0
			wait = w.cfg.PollInterval
		}
		for _, d := range ds {
			// Only this loop takes the pool's workers and it claimed no
			// more than were free, so one is free for each delivery.
			release, _ := pool.TryAcquire()
			wg.Go(func() {
				defer func() {
					if release != nil {
						release()
					}
					select {
					case w.freed <- struct{}{}:
					default:
					}
				}()
				// A started request finishes even when ctx ends, so its
				// outcome is recorded instead of waiting out the lease.
				w.deliver(context.WithoutCancel(ctx), d)
			})
		}
		if wait < 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
	return nil
}

// deliver sends one claimed delivery and records its outcome.
func (w *Worker) deliver(ctx context.Context, d store.WebhookDelivery) {
	var done func(error)
	if w.m != nil {
		done = w.m.Begin(metrics.LayerRelay, "webhook", w.cfg.Timeout)
	}
	status, retryAfter, err := w.send(ctx, d)
	if done != nil {
		done(err)
	}
	o := w.outcome(d.Attempts, status, retryAfter, err, time.Now())
	switch o.State {
	case store.WebhookDelivered:
		w.sent.Inc()
	case store.WebhookFailed:
		w.failed.Inc()
		w.log.Warn("webhook delivery failed", "id", DeliveryID(d.MessageID, d.UserID), "attempts", d.Attempts, "err", o.LastError)
	default:
		w.retried.Inc()
		w.log.Debug("webhook delivery will be retried", "id", DeliveryID(d.MessageID, d.UserID), "attempts", d.Attempts, "at", o.RetryAt, "err", o.LastError)
	}
	ok, merr := w.db.MarkWebhook(ctx, d.ID, d.Attempts, o)
	if merr != nil {
		// The lease runs out and the delivery is sent again: at least once.
		w.log.Error("recording a webhook outcome failed", "id", DeliveryID(d.MessageID, d.UserID), "err", merr)
	} else if !ok {
		w.log.Warn("webhook lease ran out before the outcome was recorded; another attempt owns it", "id", DeliveryID(d.MessageID, d.UserID))
	}
}

// send POSTs a delivery and returns the answer's status and Retry-After.
func (w *Worker) send(ctx context.Context, d store.WebhookDelivery) (int, time.Duration, error) {
	id := DeliveryID(d.MessageID, d.UserID)
	body, err := json.Marshal(Payload{ID: id, Type: TypeMessageOffline, UserID: d.UserID, Message: d.Message, CreatedAt: d.CreatedAt})
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tether-Webhook/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, body))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, bodySnippet))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, 0, nil
	}
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
}

// outcome decides what follows attempt number attempt.
func (w *Worker) outcome(attempt, status int, retryAfter time.Duration, err error, now time.Time) store.WebhookOutcome {
	if err == nil {
		return store.WebhookOutcome{State: store.WebhookDelivered}
	}
	msg := err.Error()
	if !Retryable(status) {
		return store.WebhookOutcome{State: store.WebhookFailed, LastError: msg}
	}
	if attempt >= w.cfg.MaxAttempts {
		return store.WebhookOutcome{State: store.WebhookFailed, LastError: fmt.Sprintf("gave up after %d attempts: %s", attempt, msg)}
	}
	return store.WebhookOutcome{State: store.WebhookPending, RetryAt: now.Add(w.Backoff(attempt, retryAfter)), LastError: msg}
}

// Retryable reports whether an attempt that ended with status (0: no answer,
// a network error or timeout) may succeed when tried again.
func Retryable(status int) bool {
	return status == 0 || status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// Backoff is the delay before the retry that follows failed attempt number
// attempt (1-based): full jitter under a ceiling of MinBackoff doubled per
// attempt, at most MaxBackoff; never less than the receiver's Retry-After
// (itself capped at MaxBackoff).
func (w *Worker) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceiling := w.cfg.MaxBackoff
	if shift := attempt - 1; shift < 40 {
		ceiling = min(w.cfg.MinBackoff<<shift, w.cfg.MaxBackoff)
	}
	d := max(w.cfg.Jitter(ceiling), 0)
	return min(max(d, retryAfter), w.cfg.MaxBackoff)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date; 0 if absent or bad.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(365*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL drops credentials and the query (which may hold a token) for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	return u.String()
}
