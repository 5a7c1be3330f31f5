package store

import (
	"context"
	"fmt"

	"github.com/tetherim/tether/api"
)

// SessionService implements api.SessionService.
type SessionService struct {
	db      *DB
	revoker api.SessionRevoker // may be nil: no push side to tell
}

var _ api.SessionService = (*SessionService)(nil)

// NewSessionService returns the login-session service. revoker, if not nil,
// is told about every revoked session after the database has recorded it.
func NewSessionService(db *DB, revoker api.SessionRevoker) api.SessionService {
	return &SessionService{db: db, revoker: revoker}
}

// Logout revokes the caller's session. The database is written first, so a
// failure to reach the push side leaves the refresh token dead; the caller
// may retry, and the retry tells the push side again.
func (s *SessionService) Logout(ctx context.Context, caller api.Caller) error {
	if caller.SessionID == "" {
		return api.Errorf(api.EUNAUTHORIZED, "the access token names no login session")
	}
	var sess sessionRow
	res := s.db.g.WithContext(ctx).Where("id = ? AND user_id = ?", caller.SessionID, caller.UserID).Limit(1).Find(&sess)
	if res.Error != nil {
		return fmt.Errorf("store: logout: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil // nothing to revoke: already gone
	}
	err := s.db.g.WithContext(ctx).Model(&sessionRow{}).
		Where("id = ? AND revoked_at IS NULL", sess.ID).Update("revoked_at", now()).Error
	if err != nil {
		return fmt.Errorf("store: logout: %w", err)
	}
	if s.revoker != nil {
		if err := s.revoker.Revoke(ctx, sess.UserID, sess.ID, sess.DeviceID, sess.Platform); err != nil {
			return fmt.Errorf("store: logout: tell push nodes: %w", err)
		}
	}
	return nil
}
