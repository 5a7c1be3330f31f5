package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/wire"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("tether client: closed")

// ErrRunning is returned by Run while another Run of the same Client is active.
var ErrRunning = errors.New("tether client: already running")

// Client keeps a push connection to a Tether push node and delivers the
// user's timeline to Config.Handler exactly once per version, in version
// order, across disconnects: it syncs over REST after every (re)connect that
// is behind and whenever the push stream skips versions.
type Client struct {
	cfg   Config
	api   *API
	sess  *session
	log   *slog.Logger
	addrs *addrList // owned by the goroutine in Run
	stats counters

	seq  *sequencer           // owned by the goroutine in Run
	last atomic.Uint64        // seq.Last(), readable from anywhere
	live atomic.Pointer[conn] // the connection being served, for SendSignal

	running atomic.Bool
	mu      sync.Mutex
	closed  bool
	cancel  context.CancelFunc // of the active Run
}

// New returns a Client. Configuration errors are reported by Run.
func New(cfg Config) *Client {
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, api: NewAPI(cfg.APIBase, cfg.HTTPClient), log: cfg.Logger}
	c.sess = newSession(c.api, cfg, &c.stats)
	c.addrs = newAddrList(cfg)
	c.seq = newSequencer(cfg.LastVersion, defaultWindow)
	c.last.Store(cfg.LastVersion)
	return c
}

// API returns the REST client the Client uses.
func (c *Client) API() *API { return c.api }

// AccessToken returns a valid access token for calls through API, logging in
// or refreshing first when needed.
func (c *Client) AccessToken(ctx context.Context) (string, error) { return c.sess.access(ctx) }

// UserID returns the logged-in user's id; 0 before the first login.
func (c *Client) UserID() int64 { return c.sess.UserID() }

// LastVersion returns the highest version handed to the Handler (or
// Config.LastVersion if none was yet). Persist it to resume from it later.
func (c *Client) LastVersion() uint64 { return c.last.Load() }

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats { return c.stats.snapshot() }

// Close stops Run (which then returns ErrClosed) and any later Run. It does
// not wait: Run returning is the signal that every goroutine has stopped.
// It is safe to call from the Handler.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cancel != nil {
		c.cancel()
	}
	return nil
}

// Send sends a 1:1 message with the client's credentials. An empty
// clientMsgID gets a random one. Failures a retry may fix (503, 502, 504,
// 429, network errors) are retried with the same clientMsgID for up to
// Config.SendRetryBudget, honouring Retry-After, so the message is stored
// at most once; created is false when the server already had it (possibly
// from an earlier attempt whose answer was lost). Other failures (invalid
// content, forbidden, a server bug) return at once.
func (c *Client) Send(ctx context.Context, recipientID int64, clientMsgID, typ string, content json.RawMessage) (msg *tether.Message, created bool, err error) {
	if clientMsgID == "" {
		clientMsgID = uuid.NewString()
	}
	if !json.Valid(content) {
		return nil, false, errors.New("tether client: message content is not valid JSON")
	}
	deadline := time.Now().Add(c.cfg.SendRetryBudget)
	bo := backoff{min: c.cfg.MinBackoff, max: min(c.cfg.MaxBackoff, 5*time.Second)}
	renewed := false
	for attempt := 1; ; attempt++ {
		err := c.sendOnce(ctx, &renewed, func(tok string) (err error) {
			msg, created, err = c.api.Send(ctx, tok, recipientID, clientMsgID, typ, content)
			return err
		})
		switch {
		case err == nil:
			return msg, created, nil
		case errors.Is(err, errRenewed):
			continue
		case !sendRetryable(ctx, err):
			return nil, false, err
		}
		d := max(bo.next(), retryAfter(err))
		if time.Now().Add(d).After(deadline) {
			return nil, false, fmt.Errorf("tether client: send: gave up after %d attempts within the %s retry budget: %w", attempt, c.cfg.SendRetryBudget, err)
		}
		c.log.Debug("tether client: send failed, retrying", "client_msg_id", clientMsgID, "attempt", attempt, "in", d, "err", err)
		if !sleep(ctx, d) {
			return nil, false, ctx.Err()
		}
	}
}

// errRenewed says the access token was rejected once and renewed: try again at once.
var errRenewed = errors.New("tether client: access token renewed")

// sendOnce makes one attempt of a send with a valid access token, logging
// in or refreshing first if needed. Credentials that are refused are
// renewed once per Send (errRenewed); a login or refresh that fails in a
// way a retry may fix (the API's database is down) is returned for Send to
// retry like the send itself.
func (c *Client) sendOnce(ctx context.Context, renewed *bool, send func(tok string) error) error {
	tok, err := c.sess.access(ctx)
	if err != nil {
		return err
	}
	err = send(tok)
	if rejected(err) && !*renewed {
		*renewed = true
		if _, err := c.sess.renew(ctx, tok); err != nil {
			return err
		}
		return errRenewed
	}
	return err
}

// sendRetryable reports failures of a send that a retry with the same
// client message id may fix: the service or a dependency is unavailable
// (503, and 502 and 504 from a proxy in front), a rate limit (429), or the
// request or its answer was lost on the network. A 500 is a fault a retry
// would only repeat, and rejected credentials (ErrUnauthorized) stay
// rejected.
func sendRetryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrUnauthorized) {
		return false
	}
	var p *ProblemError
	if errors.As(err, &p) {
		switch p.Status {
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			return true
		}
		return false
	}
	return true // transport errors: the request may not even have arrived
}

// retryAfter is the Retry-After of a failed request, 0 if it had none.
func retryAfter(err error) time.Duration {
	var p *ProblemError
	if errors.As(err, &p) {
		return p.RetryAfter
	}
	return 0
}

// retryable reports whether a failed idempotent request may succeed if repeated.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var p *ProblemError
	if errors.As(err, &p) {
		return p.Temporary()
	}
	return true // transport errors: the request may not even have arrived
}

// permanent reports whether obtaining credentials failed in a way retrying
// cannot fix: rejected credentials, or a request the server calls invalid.
func permanent(err error) bool {
	if errors.Is(err, ErrUnauthorized) {
		return true
	}
	var p *ProblemError
	return errors.As(err, &p) && !p.Temporary()
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fatalError ends Run: retrying cannot help.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

// Run connects and keeps the client connected, delivering entries to the
// Handler, until ctx is done (it returns ctx.Err()), Close is called (it
// returns ErrClosed) or the servers reject the client for good (it returns
// an error wrapping ErrUnauthorized, a *ProblemError for an invalid login
// request, or a *CloseError with wire.CodeUnsupportedVersion), or end the
// session on purpose (it returns a *KickedError and does not reconnect).
// Every goroutine Run starts has stopped when it returns. Run may be called
// again afterwards; it resumes after LastVersion.
func (c *Client) Run(ctx context.Context) error {
	if err := c.cfg.validate(); err != nil {
		return err
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.cancel = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cancel = nil
		c.mu.Unlock()
	}()

	err := c.loop(ctx)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	var fe fatalError
	if errors.As(err, &fe) {
		return fe.error
	}
	return err
}

// loop reconnects until ctx is done or an error is fatal.
func (c *Client) loop(ctx context.Context) error {
	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	rejections := 0 // consecutive handshakes refused as unauthorized
	avoid := ""
	for {
		if c.cfg.Discover {
			c.discover(ctx, avoid) // discovery.go
		}
		r := c.connectOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := r.err
		avoid = r.addr
		c.addrs.advance()
		if d, ok := moveDelay(err); ok {
			// The node asked its clients to move: go to the next node at
			// once, after a small random delay, without backing off.
			rejections = 0
			bo.reset()
			c.log.Info("tether client: node asked to reconnect", "err", err, "in", d, "next", c.addrs.current())
			if !sleep(ctx, d) {
				return ctx.Err()
			}
			continue
		}
		var fe fatalError
		if errors.As(err, &fe) {
			c.log.Error("tether client: stopping", "err", err)
			return err
		}
		if r.welcomed {
			rejections = 0
			// Only a connection that stayed up a while proves the server
			// healthy; one that is dropped at once keeps backing off.
			if r.lived >= c.cfg.MaxBackoff {
				bo.reset()
			}
		}
		immediate := false
		var ce *CloseError
		if errors.As(err, &ce) {
			switch ce.Code {
			case wire.CodeUnsupportedVersion:
				c.log.Error("tether client: stopping: server speaks no common protocol version", "err", err)
				return err
			case wire.CodeUnauthorized, wire.CodeTokenExpired:
				if ce.Code == wire.CodeUnauthorized {
					rejections++
					if rejections > 1 {
						err = fmt.Errorf("%w: push node refused fresh credentials: %w", ErrUnauthorized, err)
						c.log.Error("tether client: stopping", "err", err)
						return err
					}
				}
				if _, rerr := c.sess.renew(ctx, r.token); rerr != nil {
					if permanent(rerr) {
						c.log.Error("tether client: stopping", "err", rerr)
						return rerr
					}
					err = rerr
				} else {
					// Fresh credentials: no reason to wait, unless they keep expiring.
					immediate = bo.attempt == 0
				}
			}
		}
		if errors.Is(err, ErrUnauthorized) {
			c.log.Error("tether client: stopping", "err", err)
			return err
		}
		if immediate {
			c.log.Info("tether client: reconnecting with fresh token", "err", err)
			bo.attempt++
			continue
		}
		d := bo.next()
		c.log.Info("tether client: disconnected, reconnecting", "err", err, "in", d, "attempt", bo.attempt, "last_version", c.last.Load())
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// result is how one connection ended.
type result struct {
	err      error
	welcomed bool
	lived    time.Duration // from Welcome to the end
	token    string        // the access token the Hello carried
	addr     string        // the node it went to
}

// connectOnce dials, handshakes and serves one connection until it ends.
func (c *Client) connectOnce(ctx context.Context) (r result) {
	tok, err := c.sess.access(ctx)
	if err != nil {
		if permanent(err) {
			err = fatalError{err}
		}
		return result{err: err}
	}
	r.token = tok
	hello := wire.Hello{
		Version:     wire.ProtocolVersion,
		LastVersion: c.seq.Last(),
		Token:       tok,
		Platform:    c.cfg.Platform,
		DeviceID:    c.cfg.DeviceID,
		AppVersion:  c.cfg.AppVersion,
	}
	addr := c.addrs.current()
	r.addr = addr
	cn, w, err := dial(ctx, &c.cfg, addr, &c.stats, hello, &c.last)
	if err != nil {
		c.stats.dialFailures.Add(1)
		r.err = err
		return r
	}
	start := time.Now()
	r.welcomed = true
	if c.stats.connects.Add(1) > 1 {
		c.stats.reconnects.Add(1)
	}
	c.log.Info("tether client: connected", "addr", addr, "session", w.SessionID,
		"current_version", w.CurrentVersion, "last_version", hello.LastVersion,
		"heartbeat", cn.heartbeat, "version_unknown", w.Flags&wire.FlagVersionUnknown != 0)
	behind := w.Flags&wire.FlagVersionUnknown != 0 || w.CurrentVersion > c.seq.Last()
	r.err = c.serve(ctx, cn, behind)
	_, moving := moveDelay(r.err)
	// Leaving a draining node politely (final ack, Close) lets it drop the
	// session at once instead of waiting for the end of its window.
	cn.close(ctx.Err() != nil || moving)
	r.lived = time.Since(start)
	return r
}

// serve runs one connection: it delivers pushed entries, syncs when behind
// or when the stream has a gap, and returns why the connection ended.
func (c *Client) serve(ctx context.Context, cn *conn, behind bool) error {
	c.live.Store(cn) // SendSignal writes through it
	defer c.live.Store(nil)
	s := syncState{wanted: behind, bo: backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}}
	defer s.stopTimer()
	refresh := time.NewTimer(time.Hour)
	defer refresh.Stop()
	c.armRefresh(refresh)
	refreshBo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	for {
		if s.wanted && s.retry == nil {
			if err := c.catchUp(ctx, cn, &s); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.retry:
			s.retry, s.timer = nil, nil
		case <-refresh.C:
			// Refreshing ahead of expiry keeps REST calls and the next
			// handshake from paying for it.
			if _, err := c.sess.access(ctx); err != nil {
				if permanent(err) {
					return fatalError{err}
				}
				c.log.Warn("tether client: token refresh failed, retrying", "err", err)
				refresh.Reset(refreshBo.next())
				continue
			}
			refreshBo.reset()
			c.armRefresh(refresh)
		case ev := <-cn.events:
			if ev.err != nil {
				if errors.Is(ev.err, ErrDeadConnection) {
					c.stats.dead.Add(1)
				}
				return ev.err
			}
			switch ev.frame.Type {
			case wire.TypeMessage:
				if c.onPush(cn, ev.frame.Message) && !s.wanted {
					s.wanted, s.gap = true, true
				}
			case wire.TypeSync:
				// A route written late: the node tells the user's newest
				// version (0 if unknown); sync only if behind it.
				if v := ev.frame.Current; (v == 0 || v > c.seq.Last()) && !s.wanted {
					s.wanted = true
				}
			case wire.TypeReconnect:
				return &reconnectError{window: time.Duration(ev.frame.Window) * time.Millisecond}
			case wire.TypeClose:
				if ev.frame.Reason.Code == wire.CodeShuttingDown {
					return &reconnectError{window: shutdownJitter, code: wire.CodeShuttingDown}
				}
				return &CloseError{Frame: ev.frame.Type, Code: ev.frame.Reason.Code, Text: ev.frame.Reason.Text}
			case wire.TypeError:
				return &CloseError{Frame: ev.frame.Type, Code: ev.frame.Reason.Code, Text: ev.frame.Reason.Text}
			case wire.TypeKick:
				return kicked(ev.frame) // never reconnect after a kick; see kick.go
			case wire.TypePush, wire.TypeSignal:
				c.onTransient(ev.frame) // see transient.go
			}
		}
	}
}

// armRefresh sets t to fire when the access token is due for a refresh.
func (c *Client) armRefresh(t *time.Timer) {
	at := c.sess.nextRefresh()
	if at.IsZero() {
		t.Stop()
		return
	}
	t.Reset(max(time.Until(at), 0))
}

// syncState tracks an outstanding need to sync on one connection.
type syncState struct {
	wanted bool // a sync is needed
	gap    bool // ...because the push stream skipped versions
	bo     backoff
	timer  *time.Timer
	retry  <-chan time.Time // set while waiting to retry a failed or incomplete sync
}

func (s *syncState) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// catchUp syncs and updates s. Only fatal errors are returned: a failed
// sync is retried after a backoff while pushes keep flowing.
func (c *Client) catchUp(ctx context.Context, cn *conn, s *syncState) error {
	c.stats.syncs.Add(1)
	if s.gap {
		c.stats.gapsSynced.Add(1)
	}
	from := c.seq.Last()
	err := c.syncAll(ctx, cn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && errors.Is(err, ErrUnauthorized) {
		return fatalError{err}
	}
	first, gap := c.seq.Gap()
	if err == nil && !gap {
		c.log.Debug("tether client: synced", "from", from, "to", c.seq.Last(), "gap", s.gap)
		s.wanted, s.gap = false, false
		s.bo.reset()
		return nil
	}
	d := s.bo.next()
	if err != nil {
		c.log.Warn("tether client: sync failed, retrying", "err", err, "in", d, "last_version", c.seq.Last())
	} else {
		// The server's timeline does not yet show versions the push stream
		// already skipped past: ask again shortly.
		c.log.Warn("tether client: gap persists after sync", "last_version", c.seq.Last(), "next_held", first, "in", d)
	}
	s.timer = time.NewTimer(d)
	s.retry = s.timer.C
	return nil
}

// syncAll reads the timeline after the last delivered version to its end.
func (c *Client) syncAll(ctx context.Context, cn *conn) error {
	since := c.seq.Last()
	for {
		page, err := c.syncPage(ctx, since)
		if err != nil {
			return err
		}
		c.stats.pages.Add(1)
		for _, e := range page.Entries {
			if c.seq.Offer(e) == offerDuplicate {
				c.stats.duplicates.Add(1)
			}
		}
		c.drain(cn)
		if !page.HasMore || len(page.Entries) == 0 {
			return nil
		}
		if page.NextSince <= since {
			return fmt.Errorf("tether client: sync did not advance past version %d", since)
		}
		since = page.NextSince
	}
}

// syncPage fetches one page, renewing the access token once if it is rejected.
func (c *Client) syncPage(ctx context.Context, since uint64) (*tether.SyncPage, error) {
	tok, err := c.sess.access(ctx)
	if err != nil {
		return nil, err
	}
	page, err := c.api.Sync(ctx, tok, since, c.cfg.SyncPageSize)
	if err != nil && rejected(err) {
		if tok, err = c.sess.renew(ctx, tok); err != nil {
			return nil, err
		}
		page, err = c.api.Sync(ctx, tok, since, c.cfg.SyncPageSize)
	}
	return page, err
}

// onPush handles a pushed entry and reports whether the stream has a gap
// that a sync must fill.
func (c *Client) onPush(cn *conn, m wire.Message) (gap bool) {
	var e tether.Entry
	if err := json.Unmarshal(m.Body, &e); err != nil || e.Kind == "" {
		if m.Version <= c.seq.Last() {
			c.stats.duplicates.Add(1)
			return false
		}
		// Never deliver what we cannot read, never skip it: fetch it by sync.
		c.stats.badBodies.Add(1)
		c.log.Warn("tether client: undecodable pushed entry, syncing instead", "version", m.Version, "bytes", len(m.Body))
		return true
	}
	e.Version = m.Version
	switch c.seq.Offer(e) {
	case offerDuplicate:
		c.stats.duplicates.Add(1)
		return false
	case offerReady:
		c.drain(cn)
		return false
	default:
		return true
	}
}

// drain hands every entry the sequencer releases to the Handler and asks
// for an ack once enough are unacked.
func (c *Client) drain(cn *conn) {
	for {
		e, ok := c.seq.Next()
		if !ok {
			return
		}
		pushID, expired := pushEntry(e) // a persisted push of the push API (transient.go)
		if c.cfg.Handler != nil && !expired {
			c.cfg.Handler(e)
		}
		c.ackPush(pushID)
		c.last.Store(e.Version)
		c.stats.delivered.Add(1)
		// Version 2 acks on the next heartbeat, whatever the count: a
		// burst of n entries costs n frames, not n plus one per batch.
		if !cn.heartbeatAcks() && e.Version-cn.acked.Load() >= uint64(c.cfg.AckBatch) {
			cn.requestAck()
		}
	}
}
