package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tetherim/tether"
)

// ErrUnauthorized means the server rejected the client's credentials and
// neither a refresh nor a fresh login fixed it. Run stops with it.
var ErrUnauthorized = errors.New("tether client: credentials rejected")

// maxRefreshLead caps how long before expiry an access token is refreshed.
const maxRefreshLead = 30 * time.Second

// session holds a login session's tokens and keeps the access token fresh.
// Its lock is held across the refresh request: a refresh token rotates on
// use, and using one twice would revoke the whole session.
type session struct {
	api                                    *API
	username, password, deviceID, platform string
	stats                                  *counters
	log                                    *slog.Logger

	mu        sync.Mutex
	tokens    *tether.Tokens
	refreshAt time.Time // zero: never refresh ahead of a rejection
}

func newSession(a *API, cfg Config, stats *counters) *session {
	s := &session{
		api: a, username: cfg.Username, password: cfg.Password,
		deviceID: cfg.DeviceID, platform: cfg.Platform, stats: stats, log: cfg.Logger,
	}
	if cfg.Tokens != nil {
		t := *cfg.Tokens
		s.set(&t)
	}
	return s
}

// set installs new tokens; s.mu must be held (or s not yet shared).
func (s *session) set(t *tether.Tokens) {
	s.tokens = t
	s.refreshAt = time.Time{}
	// A token that looks expired on arrival means the clocks disagree:
	// refreshing ahead would spin, so rely on the server's rejections.
	if life := time.Until(t.ExpiresAt); !t.ExpiresAt.IsZero() && life > 0 {
		s.refreshAt = t.ExpiresAt.Add(-min(maxRefreshLead, life/4))
	}
}

// UserID returns the logged-in user's id, 0 before the first login.
func (s *session) UserID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		return 0
	}
	return s.tokens.UserID
}

// nextRefresh returns when the access token should be refreshed ahead of
// its expiry; zero if there is no token or its expiry is unknown.
func (s *session) nextRefresh() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshAt
}

// access returns an access token that is not about to expire, logging in or
// refreshing first when needed.
func (s *session) access(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.tokens == nil:
		if err := s.login(ctx); err != nil {
			return "", err
		}
	case !s.refreshAt.IsZero() && !time.Now().Before(s.refreshAt):
		if err := s.refresh(ctx); err != nil {
			return "", err
		}
	}
	return s.tokens.AccessToken, nil
}

// renew replaces an access token the server rejected. If another caller has
// already replaced stale, the current token is returned without a request.
func (s *session) renew(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens != nil && s.tokens.AccessToken != stale {
		return s.tokens.AccessToken, nil
	}
	var err error
	if s.tokens == nil {
		err = s.login(ctx)
	} else {
		err = s.refresh(ctx)
	}
	if err != nil {
		return "", err
	}
	return s.tokens.AccessToken, nil
}

// refresh rotates the tokens, falling back to a password login when the
// refresh token is no longer accepted. s.mu must be held.
func (s *session) refresh(ctx context.Context) error {
	t, err := s.api.Refresh(ctx, s.tokens.RefreshToken)
	if err == nil {
		s.stats.refreshes.Add(1)
		s.log.Debug("tether client: access token refreshed", "user_id", t.UserID, "expires_at", t.ExpiresAt)
		s.set(t)
		return nil
	}
	var p *ProblemError
	if !rejected(err) && (!errors.As(err, &p) || p.Temporary()) {
		return fmt.Errorf("tether client: refresh token: %w", err)
	}
	s.log.Info("tether client: refresh token rejected", "err", err)
	if s.password == "" {
		return fmt.Errorf("%w: refresh token rejected and no password to log in again: %w", ErrUnauthorized, err)
	}
	return s.login(ctx)
}

// login opens a new session with the password. s.mu must be held.
func (s *session) login(ctx context.Context) error {
	if s.password == "" {
		return fmt.Errorf("%w: no tokens and no password", ErrUnauthorized)
	}
	t, err := s.api.Login(ctx, s.username, s.password, s.deviceID, s.platform)
	if err != nil {
		if rejected(err) {
			return fmt.Errorf("%w: login: %w", ErrUnauthorized, err)
		}
		return fmt.Errorf("tether client: login: %w", err)
	}
	s.stats.logins.Add(1)
	s.log.Info("tether client: logged in", "user_id", t.UserID, "session_id", t.SessionID, "device_id", s.deviceID)
	s.set(t)
	return nil
}

// rejected reports whether err is the server refusing credentials.
func rejected(err error) bool {
	var p *ProblemError
	return errors.As(err, &p) && (p.Status == http.StatusUnauthorized || p.Code == tether.EUNAUTHORIZED)
}
