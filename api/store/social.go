package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/blockmirror"
)

// contactRow and blockRow map contacts and blocks (sql/*/00003_social.sql).
type contactRow struct {
	UserID    int64     `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	ContactID int64     `gorm:"column:contact_id;primaryKey;autoIncrement:false"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (contactRow) TableName() string { return "contacts" }

type blockRow struct {
	UserID    int64     `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	BlockedID int64     `gorm:"column:blocked_id;primaryKey;autoIncrement:false"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (blockRow) TableName() string { return "blocks" }

// SocialService implements tether.SocialService.
type SocialService struct {
	db     *DB
	mirror tether.BlockMirror // may be nil: no push side to tell
}

var _ tether.SocialService = (*SocialService)(nil)

// SocialOption configures a SocialService.
type SocialOption func(*SocialService)

// WithBlockMirror makes every block and unblock also update m, after the
// database, in the same request; if m fails the request answers 503 and its
// retry updates m again.
func WithBlockMirror(m tether.BlockMirror) SocialOption {
	return func(s *SocialService) { s.mirror = m }
}

// NewSocialService returns the contacts and blocks service.
func NewSocialService(db *DB, opts ...SocialOption) tether.SocialService {
	s := &SocialService{db: db}
	for _, o := range opts {
		o(s)
	}
	return s
}

// socialList describes one of the two lists: its table and other-user column.
type socialList struct {
	table, other, noun string
}

var (
	contactList = socialList{"contacts", "contact_id", "contact"}
	blockList   = socialList{"blocks", "blocked_id", "block"}
)

func (s *SocialService) AddContact(ctx context.Context, userID, contactID int64) error {
	return s.add(ctx, contactList, userID, contactID)
}

func (s *SocialService) RemoveContact(ctx context.Context, userID, contactID int64) error {
	return s.remove(ctx, contactList, userID, contactID)
}

func (s *SocialService) Contacts(ctx context.Context, userID int64, cursor string, limit int) (*tether.UserPage, error) {
	return s.list(ctx, contactList, userID, cursor, limit)
}

func (s *SocialService) Block(ctx context.Context, userID, blockedID int64) error {
	if err := s.add(ctx, blockList, userID, blockedID); err != nil {
		return err
	}
	if s.mirror != nil {
		if err := s.mirror.Block(ctx, userID, blockedID); err != nil {
			return fmt.Errorf("store: block: %w", pushSideUnavailable("The block is stored", err))
		}
	}
	return nil
}

func (s *SocialService) Unblock(ctx context.Context, userID, blockedID int64) error {
	if err := s.remove(ctx, blockList, userID, blockedID); err != nil {
		return err
	}
	if s.mirror != nil {
		if err := s.mirror.Unblock(ctx, userID, blockedID); err != nil {
			return fmt.Errorf("store: unblock: %w", pushSideUnavailable("The block is removed", err))
		}
	}
	return nil
}

// BlockPairs pages through every block, in (blocker, blocked) order: the
// blocks after after, at most limit; it is the blockmirror.Source the API
// rebuilds the mirror in Redis from.
func (db *DB) BlockPairs(ctx context.Context, after blockmirror.Pair, limit int) ([]blockmirror.Pair, error) {
	var rows []blockRow
	err := db.g.WithContext(ctx).
		Where("user_id > ? OR (user_id = ? AND blocked_id > ?)", after.Blocker, after.Blocker, after.Blocked).
		Order("user_id, blocked_id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: block pairs: %w", err)
	}
	out := make([]blockmirror.Pair, len(rows))
	for i, r := range rows {
		out[i] = blockmirror.Pair{Blocker: r.UserID, Blocked: r.BlockedID}
	}
	return out, nil
}

func (s *SocialService) Blocks(ctx context.Context, userID int64, cursor string, limit int) (*tether.UserPage, error) {
	return s.list(ctx, blockList, userID, cursor, limit)
}

// add inserts (userID, other) into l unless it is there already.
func (s *SocialService) add(ctx context.Context, l socialList, userID, other int64) error {
	if err := checkOther(l, userID, other); err != nil {
		return err
	}
	g := s.db.g.WithContext(ctx)
	var exists bool
	if err := g.Model(&userRow{}).Select("count(*) > 0").Where("id = ?", other).Find(&exists).Error; err != nil {
		return fmt.Errorf("store: add %s: %w", l.noun, err)
	}
	if !exists {
		return tether.Errorf(tether.ENOTFOUND, "user not found")
	}
	var row any = &contactRow{UserID: userID, ContactID: other, CreatedAt: now()}
	if l == blockList {
		row = &blockRow{UserID: userID, BlockedID: other, CreatedAt: now()}
	}
	if err := orNoAccount(g.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error); err == errNoAccount {
		return err
	} else if err != nil {
		return fmt.Errorf("store: add %s: %w", l.noun, err)
	}
	return nil
}

// remove deletes (userID, other) from l; removing what is not there is no error.
func (s *SocialService) remove(ctx context.Context, l socialList, userID, other int64) error {
	if err := checkOther(l, userID, other); err != nil {
		return err
	}
	err := s.db.g.WithContext(ctx).Exec("DELETE FROM "+l.table+" WHERE user_id = ? AND "+l.other+" = ?", userID, other).Error
	if err != nil {
		return fmt.Errorf("store: remove %s: %w", l.noun, err)
	}
	return nil
}

func checkOther(l socialList, userID, other int64) error {
	switch {
	case userID <= 0:
		return tether.Errorf(tether.EUNAUTHORIZED, "no authenticated user")
	case other <= 0:
		return tether.Errorf(tether.EINVALID, "user_id must be a positive user id")
	case other == userID && l == blockList:
		return tether.Errorf(tether.EINVALID, "you cannot block yourself")
	case other == userID:
		return tether.Errorf(tether.EINVALID, "you cannot add yourself as a contact")
	}
	return nil
}

// list returns a page of l after cursor (the last user id of the previous page).
func (s *SocialService) list(ctx context.Context, l socialList, userID int64, cursor string, limit int) (*tether.UserPage, error) {
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
	type item struct {
		ID        int64     `gorm:"column:id"`
		Username  string    `gorm:"column:username"`
		CreatedAt time.Time `gorm:"column:created_at"`
	}
	var items []item
	err := s.db.g.WithContext(ctx).Table(l.table+" AS l").
		Select("u.id AS id, u.username AS username, l.created_at AS created_at").
		Joins("JOIN users u ON u.id = l."+l.other).
		Where("l.user_id = ? AND l."+l.other+" > ?", userID, after).
		Order("l." + l.other).Limit(limit + 1).
		Scan(&items).Error
	if err != nil {
		return nil, fmt.Errorf("store: list %ss: %w", l.noun, err)
	}
	page := &tether.UserPage{Users: make([]tether.ListedUser, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			page.NextCursor = strconv.FormatInt(items[limit-1].ID, 10)
			break
		}
		page.Users = append(page.Users, tether.ListedUser{ID: it.ID, Username: it.Username, AddedAt: it.CreatedAt.UTC()})
	}
	return page, nil
}

// blocked reports whether owner has blocked other: one primary-key lookup.
func blocked(g *gorm.DB, owner, other int64) (bool, error) {
	var n int64
	err := g.Model(&blockRow{}).Where("user_id = ? AND blocked_id = ?", owner, other).Limit(1).Count(&n).Error
	return n > 0, err
}
