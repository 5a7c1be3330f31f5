package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
)

// profileRow maps user_profiles (sql/*/00003_social.sql).
type profileRow struct {
	UserID      int64     `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	DisplayName string    `gorm:"column:display_name"`
	AvatarURL   string    `gorm:"column:avatar_url"`
	Attributes  string    `gorm:"column:attributes"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

func (profileRow) TableName() string { return "user_profiles" }

// ProfileService implements tether.ProfileService.
type ProfileService struct{ db *DB }

var _ tether.ProfileService = (*ProfileService)(nil)

// NewProfileService returns the profile service.
func NewProfileService(db *DB) tether.ProfileService { return &ProfileService{db: db} }

// Profile returns a user's profile; a user who never set one has an empty one.
func (s *ProfileService) Profile(ctx context.Context, userID int64) (*tether.Profile, error) {
	return s.read(s.db.g.WithContext(ctx), userID, false)
}

// read loads a profile; lock takes the user's row lock first, which
// serializes the updates of one profile.
func (s *ProfileService) read(g *gorm.DB, userID int64, lock bool) (*tether.Profile, error) {
	var u userRow
	q := g.Where("id = ?", userID)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	err := q.Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, tether.Errorf(tether.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: profile: %w", err)
	}
	var rows []profileRow
	if err := g.Where("user_id = ?", userID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: profile: %w", err)
	}
	p := &tether.Profile{ID: u.ID, Username: u.Username, Attributes: json.RawMessage(`{}`)}
	if len(rows) == 1 {
		p.DisplayName, p.AvatarURL, p.Attributes = rows[0].DisplayName, rows[0].AvatarURL, json.RawMessage(rows[0].Attributes)
	}
	return p, nil
}

// UpdateProfile validates u, then applies it under the profile row's lock.
func (s *ProfileService) UpdateProfile(ctx context.Context, userID int64, u tether.ProfileUpdate) (*tether.Profile, error) {
	attrs, err := u.Validate()
	if err != nil {
		return nil, err
	}
	var out *tether.Profile
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		p, err := s.read(tx, userID, true)
		if err != nil {
			return err
		}
		if u.DisplayName != nil {
			p.DisplayName = *u.DisplayName
		}
		if u.AvatarURL != nil {
			p.AvatarURL = *u.AvatarURL
		}
		if attrs != nil {
			p.Attributes = attrs
		}
		row := profileRow{UserID: userID, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL, Attributes: string(p.Attributes), UpdatedAt: now()}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return fmt.Errorf("store: update profile: %w", err)
		}
		out = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
