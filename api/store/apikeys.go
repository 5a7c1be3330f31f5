package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherim/tether"
)

// apiKeyRow maps api_keys (sql/*/00005_push_api.sql).
type apiKeyRow struct {
	ID         int64      `gorm:"column:id;primaryKey;autoIncrement"`
	KeyID      string     `gorm:"column:key_id"`
	Name       string     `gorm:"column:name"`
	SecretHash []byte     `gorm:"column:secret_hash"`
	Scopes     string     `gorm:"column:scopes"`
	RateLimit  int        `gorm:"column:rate_limit"`
	CreatedAt  time.Time  `gorm:"column:created_at"`
	RevokedAt  *time.Time `gorm:"column:revoked_at"`
}

func (apiKeyRow) TableName() string { return "api_keys" }

func (r apiKeyRow) key() tether.APIKey {
	k := tether.APIKey{ID: r.KeyID, Name: r.Name, Scopes: strings.Split(r.Scopes, ","), RateLimit: r.RateLimit, CreatedAt: r.CreatedAt.UTC()}
	if r.RevokedAt != nil {
		t := r.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k
}

// SecretPrefix starts every API key secret, so leaked keys are easy to find
// by secret scanners and easy to tell from access tokens.
const SecretPrefix = "tether_"

// HashAPIKey is how API key secrets are stored and looked up: SHA-256.
// Unlike passwords (argon2id, password.go), secrets are 32 random bytes: no
// dictionary or brute force can reach them, so a slow hash would only cost
// every push request its CPU time without adding safety, and a fast
// deterministic hash lets the lookup be one unique-index read.
func HashAPIKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// APIKeyService implements tether.APIKeyService.
type APIKeyService struct{ db *DB }

var _ tether.APIKeyService = (*APIKeyService)(nil)

// NewAPIKeyService returns the API key store.
func NewAPIKeyService(db *DB) *APIKeyService { return &APIKeyService{db: db} }

// CreateKey stores a new key and returns its secret, which is not kept.
func (s *APIKeyService) CreateKey(ctx context.Context, k tether.NewAPIKey) (*tether.CreatedAPIKey, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var idb [8]byte
	var sb [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	scopes := slices.Clone(k.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	keyID := "k_" + hex.EncodeToString(idb[:])
	secret := SecretPrefix + keyID + "_" + base64.RawURLEncoding.EncodeToString(sb[:])
	row := apiKeyRow{KeyID: keyID, Name: k.Name, SecretHash: HashAPIKey(secret), Scopes: strings.Join(scopes, ","), RateLimit: k.RateLimit, CreatedAt: now()}
	if err := s.db.g.WithContext(ctx).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("store: create api key: %w", err)
	}
	return &tether.CreatedAPIKey{APIKey: row.key(), Secret: secret}, nil
}

// Keys lists keys oldest first; the cursor is the last row id of the previous page.
func (s *APIKeyService) Keys(ctx context.Context, cursor string, limit int) (*tether.APIKeyPage, error) {
	if limit <= 0 || limit > tether.MaxPageSize {
		return nil, tether.Errorf(tether.EINVALID, "limit must be 1 to %d", tether.MaxPageSize)
	}
	var after int64
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || v < 1 {
			return nil, tether.Errorf(tether.EINVALID, "cursor is not one this API returned")
		}
		after = v
	}
	var rows []apiKeyRow
	if err := s.db.g.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list api keys: %w", err)
	}
	page := &tether.APIKeyPage{Keys: make([]tether.APIKey, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			page.NextCursor = strconv.FormatInt(rows[limit-1].ID, 10)
			break
		}
		page.Keys = append(page.Keys, r.key())
	}
	return page, nil
}

// RevokeKey marks a key revoked. Servers drop it from their caches within
// the cache lifetime (pushapi.KeyCacheTTL).
func (s *APIKeyService) RevokeKey(ctx context.Context, id string) error {
	g := s.db.g.WithContext(ctx)
	res := g.Model(&apiKeyRow{}).Where("key_id = ? AND revoked_at IS NULL", id).Update("revoked_at", now())
	if res.Error != nil {
		return fmt.Errorf("store: revoke api key: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	if err := g.Model(&apiKeyRow{}).Where("key_id = ?", id).Count(&n).Error; err != nil {
		return fmt.Errorf("store: revoke api key: %w", err)
	}
	if n == 0 {
		return tether.Errorf(tether.ENOTFOUND, "api key not found")
	}
	return nil // revoked already
}

// KeyBySecret finds a live key by the hash of its secret: one unique-index read.
func (s *APIKeyService) KeyBySecret(ctx context.Context, secret string) (*tether.KeyCaller, error) {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "the API key is invalid or revoked")
	}
	var rows []apiKeyRow
	err := s.db.g.WithContext(ctx).Where("secret_hash = ? AND revoked_at IS NULL", HashAPIKey(secret)).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: api key lookup: %w", err)
	}
	if len(rows) == 0 {
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "the API key is invalid or revoked")
	}
	k := rows[0].key()
	return &tether.KeyCaller{KeyID: k.ID, Scopes: k.Scopes, RateLimit: k.RateLimit}, nil
}
