package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/token"
)

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// AuthService implements tether.AuthService.
type AuthService struct {
	db         *DB
	signer     *token.Signer
	refreshTTL time.Duration
	revoke     revocations // a replayed refresh token revokes its session like a logout
	dummyHash  string      // compared against for unknown users, to even out login timing
}

var _ tether.AuthService = (*AuthService)(nil)

// NewAuthService returns the account and login-session service. Refresh
// tokens live for refreshTTL after their last use (a sliding window).
// revoker, if not nil, is told about a session revoked because its refresh
// token was replayed, exactly as SessionService tells it about a logout.
func NewAuthService(db *DB, signer *token.Signer, refreshTTL time.Duration, revoker tether.SessionRevoker) tether.AuthService {
	return &AuthService{
		db: db, signer: signer, refreshTTL: refreshTTL,
		revoke:    revocations{db: db, push: revoker},
		dummyHash: hashPassword("tether-dummy-password"),
	}
}

// Register creates an account and its (empty) timeline head.
func (s *AuthService) Register(ctx context.Context, username, password string) (*tether.User, error) {
	name, err := tether.NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	if err := tether.ValidatePassword(password); err != nil {
		return nil, err
	}
	u := userRow{Username: name, PasswordHash: hashPassword(password), CreatedAt: now()}
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		u.ID = 0
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		return tx.Create(&headRow{UserID: u.ID}).Error
	})
	if isDuplicate(err) {
		return nil, tether.Errorf(tether.ECONFLICT, "username %q is taken", name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: register: %w", err)
	}
	return u.user(), nil
}

func errBadCredentials() error {
	return tether.Errorf(tether.EUNAUTHORIZED, "wrong username or password")
}

// Login checks the password and opens a session for the device.
func (s *AuthService) Login(ctx context.Context, username, password string, dev tether.Device) (*tether.Tokens, error) {
	dev, err := dev.Normalize()
	if err != nil {
		return nil, err
	}
	if len(password) > 4*tether.MaxPasswordLen {
		return nil, tether.Errorf(tether.EINVALID, "password must be %d to %d characters", tether.MinPasswordLen, tether.MaxPasswordLen)
	}
	var u userRow
	name, nameErr := tether.NormalizeUsername(username)
	found := false
	if nameErr == nil {
		err := s.db.g.WithContext(ctx).Where("username = ?", name).Take(&u).Error
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return nil, fmt.Errorf("store: login: %w", err)
		}
	}
	if !found {
		// Same work as for a real user, so timing does not reveal who exists.
		_, _ = checkPassword(password, s.dummyHash)
		return nil, errBadCredentials()
	}
	ok, err := checkPassword(password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("store: login user %d: %w", u.ID, err)
	}
	if !ok {
		return nil, errBadCredentials()
	}
	sid, refresh, t := randomString(16), randomString(refreshTokenBytes), now()
	sess := sessionRow{
		ID: sid, UserID: u.ID, DeviceID: dev.ID, Platform: dev.Platform, AppVersion: dev.AppVersion,
		RefreshHash: hashToken(refresh), ExpiresAt: t.Add(s.refreshTTL), CreatedAt: t,
	}
	if err := s.db.g.WithContext(ctx).Create(&sess).Error; err != nil {
		return nil, fmt.Errorf("store: login: create session: %w", err)
	}
	return s.tokens(sess, refresh)
}

// Refresh rotates a refresh token. Presenting the token rotated away last
// revokes the session; older tokens are simply unknown.
func (s *AuthService) Refresh(ctx context.Context, refreshToken string) (*tether.Tokens, error) {
	invalid := tether.Errorf(tether.EUNAUTHORIZED, "invalid or expired refresh token")
	if refreshToken == "" || len(refreshToken) > 128 {
		return nil, invalid
	}
	h := hashToken(refreshToken)
	g := s.db.g.WithContext(ctx)
	var sess sessionRow
	err := g.Where("refresh_hash = ? OR prev_refresh_hash = ?", h, h).Take(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("store: refresh: %w", err)
	}
	if sess.RefreshHash != h {
		// A rotated token came back: it was stolen or replayed.
		if err := s.revokeReplayed(ctx, sess); err != nil {
			return nil, err
		}
		return nil, invalid
	}
	t := now()
	if sess.RevokedAt != nil || !t.Before(sess.ExpiresAt) {
		return nil, invalid
	}
	refresh := randomString(refreshTokenBytes)
	newHash := hashToken(refresh)
	res := g.Model(&sessionRow{}).
		Where("id = ? AND refresh_hash = ? AND revoked_at IS NULL", sess.ID, h).
		Updates(map[string]any{"prev_refresh_hash": h, "refresh_hash": newHash, "expires_at": t.Add(s.refreshTTL)})
	if res.Error != nil {
		return nil, fmt.Errorf("store: refresh: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		// Another request rotated the same token first: it was used twice.
		if err := s.revokeReplayed(ctx, sess); err != nil {
			return nil, err
		}
		return nil, invalid
	}
	sess.RefreshHash = newHash
	return s.tokens(sess, refresh)
}

// revokeReplayed revokes the session of a replayed refresh token. If the
// push side cannot be told, the refresh fails with that error (not 401), so
// the client retries and the retry tells it again, as a failed logout does.
func (s *AuthService) revokeReplayed(ctx context.Context, sess sessionRow) error {
	slog.WarnContext(ctx, "refresh token reused; revoking its session", "session_id", sess.ID, "user_id", sess.UserID, "device_id", sess.DeviceID)
	return s.revoke.revoke(ctx, sess)
}

func (s *AuthService) tokens(sess sessionRow, refresh string) (*tether.Tokens, error) {
	access, exp, err := s.signer.Sign(token.Claims{
		UserID: sess.UserID, DeviceID: sess.DeviceID, Platform: sess.Platform, SessionID: sess.ID, AppVersion: sess.AppVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("store: sign access token: %w", err)
	}
	return &tether.Tokens{
		AccessToken: access, TokenType: "Bearer", ExpiresAt: exp,
		RefreshToken: refresh, UserID: sess.UserID, SessionID: sess.ID,
	}, nil
}

// User returns an account by id.
func (s *AuthService) User(ctx context.Context, id int64) (*tether.User, error) {
	var u userRow
	err := s.db.g.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, tether.Errorf(tether.ENOTFOUND, "user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u.user(), nil
}

// UserByName returns an account by username, case-insensitively.
func (s *AuthService) UserByName(ctx context.Context, username string) (*tether.User, error) {
	name, err := tether.NormalizeUsername(username)
	if err != nil {
		// No account can have a name that breaks the rules.
		return nil, tether.Errorf(tether.ENOTFOUND, "user not found")
	}
	var u userRow
	err = s.db.g.WithContext(ctx).Where("username = ?", name).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, tether.Errorf(tether.ENOTFOUND, "user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("store: user by name: %w", err)
	}
	return u.user(), nil
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database stores of a refresh token.
func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}
