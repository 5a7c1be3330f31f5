package tether

import (
	"context"
	"time"
)

// ListedUser is one user of a contact or block list.
type ListedUser struct {
	ID       int64     `json:"id"`
	Username string    `json:"username"`
	AddedAt  time.Time `json:"added_at"`
}

// UserPage is a page of a contact or block list, by user id ascending.
type UserPage struct {
	Users      []ListedUser `json:"users"`
	NextCursor string       `json:"next_cursor,omitempty"` // empty when there is no more
}

// SocialService manages each user's contacts and blocks. Both lists are
// one-directional; adding and removing are idempotent. A user cannot add or
// block themselves (EINVALID); an unknown user is ENOTFOUND.
// MessageService.Send refuses with EFORBIDDEN a message to a user who
// blocked the sender; push nodes drop their signals (BlockMirror), and a
// blocked user's read receipts do not reach the blocker.
type SocialService interface {
	AddContact(ctx context.Context, userID, contactID int64) error
	RemoveContact(ctx context.Context, userID, contactID int64) error
	Contacts(ctx context.Context, userID int64, cursor string, limit int) (*UserPage, error)
	Block(ctx context.Context, userID, blockedID int64) error
	Unblock(ctx context.Context, userID, blockedID int64) error
	Blocks(ctx context.Context, userID int64, cursor string, limit int) (*UserPage, error)
}

// BlockMirror copies blocks to where push nodes, which have no database,
// read them (Redis; implemented by blockmirror.Mirror), so that a block stops
// signals too. SocialService calls it after the database changed.
type BlockMirror interface {
	Block(ctx context.Context, blocker, blocked int64) error
	Unblock(ctx context.Context, blocker, blocked int64) error
}
