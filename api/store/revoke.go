package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"gorm.io/gorm"

	"github.com/tetherim/tether"
)

// revocations is the one way a login session is revoked, whatever the
// reason (logout, a removed device, a password change, a replayed refresh
// token): the database records it first, so the refresh token is dead even
// if the push side cannot be told; then the push side marks the session
// revoked (push nodes and the REST API refuse its access tokens) and kicks
// its live connections. Telling the push side again is harmless, so a
// caller that failed there may retry.
type revocations struct {
	db   *DB
	push tether.SessionRevoker // may be nil: no push side to tell
}

// revoke records sess revoked, then tells the push side.
func (r revocations) revoke(ctx context.Context, sess sessionRow) error {
	if err := markRevoked(r.db.g.WithContext(ctx), sess.ID); err != nil {
		return fmt.Errorf("store: revoke session: %w", err)
	}
	if err := r.tell(ctx, sess); err != nil {
		return fmt.Errorf("store: revoke session: %w", err)
	}
	return nil
}

// markRevoked records sessions revoked in tx; it is how revoke and a
// transaction that revokes sessions among other writes (ChangePassword)
// write it. Revoked sessions keep their first revoked_at.
func markRevoked(tx *gorm.DB, sessionIDs ...string) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	return tx.Model(&sessionRow{}).Where("id IN ? AND revoked_at IS NULL", sessionIDs).Update("revoked_at", now()).Error
}

// tell tells the push side about sessions the database already records as
// revoked. It tries them all and returns every failure.
func (r revocations) tell(ctx context.Context, sessions ...sessionRow) error {
	if r.push == nil {
		return nil
	}
	var errs []error
	for _, s := range sessions {
		if err := r.push.Revoke(ctx, s.UserID, s.ID, s.DeviceID, s.Platform); err != nil {
			slog.ErrorContext(ctx, "revoked session: cannot tell push nodes; its access tokens live until they expire unless retried",
				"session_id", s.ID, "user_id", s.UserID, "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return pushSideUnavailable("The session is revoked", errors.Join(errs...))
	}
	return nil
}
