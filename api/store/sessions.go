package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tetherim/tether"
)

// SessionService implements tether.SessionService.
type SessionService struct {
	db         *DB
	revoke     revocations
	online     tether.OnlineDevices // may be nil: every device shows offline
	refreshTTL time.Duration        // the sliding refresh window: last use = expires_at - refreshTTL
}

var _ tether.SessionService = (*SessionService)(nil)

// NewSessionService returns the login-session service. revoker, if not nil,
// is told about every revoked session after the database has recorded it;
// online, if not nil, tells which devices have a live push connection.
// refreshTTL must be the AuthService's: a session's last use is derived from
// its sliding expiry.
func NewSessionService(db *DB, revoker tether.SessionRevoker, online tether.OnlineDevices, refreshTTL time.Duration) tether.SessionService {
	return &SessionService{db: db, revoke: revocations{db: db, push: revoker}, online: online, refreshTTL: refreshTTL}
}

// Logout revokes the caller's session. The database is written first, so a
// failure to reach the push side leaves the refresh token dead; the caller
// may retry, and the retry tells the push side again.
func (s *SessionService) Logout(ctx context.Context, caller tether.Caller) error {
	if caller.SessionID == "" {
		return tether.Errorf(tether.EUNAUTHORIZED, "the access token names no login session")
	}
	var sess sessionRow
	res := s.db.g.WithContext(ctx).Where("id = ? AND user_id = ?", caller.SessionID, caller.UserID).Limit(1).Find(&sess)
	if res.Error != nil {
		return fmt.Errorf("store: logout: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil // nothing to revoke: already gone
	}
	return s.revoke.revoke(ctx, sess)
}

// Devices lists the caller's live sessions, newest first. Online status is
// best effort: if the registry does not answer, every device shows offline.
func (s *SessionService) Devices(ctx context.Context, caller tether.Caller) ([]tether.DeviceSession, error) {
	var rows []sessionRow
	err := s.db.g.WithContext(ctx).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", caller.UserID, now()).
		Order("created_at DESC, id").Limit(tether.MaxPageSize).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	var online map[string]string
	if s.online != nil {
		online, _ = s.online.OnlineDevices(ctx, caller.UserID)
	}
	out := make([]tether.DeviceSession, 0, len(rows))
	for _, r := range rows {
		p, on := online[r.DeviceID]
		last := r.ExpiresAt.Add(-s.refreshTTL)
		if last.Before(r.CreatedAt) {
			last = r.CreatedAt
		}
		out = append(out, tether.DeviceSession{
			SessionID: r.ID, DeviceID: r.DeviceID, Platform: r.Platform,
			CreatedAt: r.CreatedAt.UTC(), LastUsedAt: last.UTC(),
			Current: r.ID == caller.SessionID,
			Online:  on && p == r.Platform,
		})
	}
	return out, nil
}

// RevokeDevice revokes one of the caller's live sessions. Another user's
// session is indistinguishable from one that does not exist.
func (s *SessionService) RevokeDevice(ctx context.Context, caller tether.Caller, sessionID string) error {
	var sess sessionRow
	res := s.db.g.WithContext(ctx).
		Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", sessionID, caller.UserID, now()).
		Limit(1).Find(&sess)
	if res.Error != nil {
		return fmt.Errorf("store: revoke device: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return tether.Errorf(tether.ENOTFOUND, "no such session")
	}
	return s.revoke.revoke(ctx, sess)
}

// ChangePassword checks the old password, stores the new one and revokes
// the caller's other live sessions in one transaction, then tells the push
// side about each revoked session.
func (s *SessionService) ChangePassword(ctx context.Context, caller tether.Caller, oldPassword, newPassword string) error {
	if err := tether.ValidatePassword(newPassword); err != nil {
		return err
	}
	var u userRow
	res := s.db.g.WithContext(ctx).Where("id = ?", caller.UserID).Limit(1).Find(&u)
	if res.Error != nil {
		return fmt.Errorf("store: change password: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return tether.Errorf(tether.EUNAUTHORIZED, "the account no longer exists")
	}
	ok, err := checkPassword(oldPassword, u.PasswordHash)
	if err != nil {
		return fmt.Errorf("store: change password: %w", err)
	}
	if !ok {
		return tether.Errorf(tether.EFORBIDDEN, "the old password is wrong")
	}
	var others []sessionRow
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&userRow{}).Where("id = ?", u.ID).Update("password_hash", hashPassword(newPassword)).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ? AND id <> ? AND revoked_at IS NULL", u.ID, caller.SessionID).Find(&others).Error; err != nil {
			return err
		}
		ids := make([]string, len(others))
		for i, o := range others {
			ids[i] = o.ID
		}
		return markRevoked(tx, ids...)
	})
	if err != nil {
		return fmt.Errorf("store: change password: %w", err)
	}
	if err := s.revoke.tell(ctx, others...); err != nil {
		return fmt.Errorf("store: change password: %w", err)
	}
	return nil
}
