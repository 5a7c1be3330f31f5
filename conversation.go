package tether

import (
	"context"
	"time"
)

// Conversation types.
const (
	ConversationDirect = "direct"
	ConversationGroup  = "group"
)

// Conversation is one entry of a user's conversation list. Versions are
// versions of the user's own timeline.
type Conversation struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`               // ConversationDirect or ConversationGroup
	PeerID      int64     `json:"peer_id,omitempty"`  // direct
	GroupID     int64     `json:"group_id,omitempty"` // group
	LastMessage *Message  `json:"last_message,omitempty"`
	LastVersion uint64    `json:"last_version"` // the version of the last message
	ReadVersion uint64    `json:"read_version"` // read up to and including this version
	UnreadCount int       `json:"unread_count"` // messages of others after ReadVersion, recalled ones not counted
	Muted       bool      `json:"muted"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ConversationPage is a page of a user's conversation list, newest activity first.
type ConversationPage struct {
	Conversations []Conversation `json:"conversations"`
	NextCursor    string         `json:"next_cursor,omitempty"` // empty when there is no more
}

// ConversationService manages each user's conversation list. A deleted
// conversation is gone from the list (ENOTFOUND for everything but a second
// delete) until its next message brings it back; its history stays readable.
type ConversationService interface {
	// Conversations lists the user's conversations, newest activity first.
	Conversations(ctx context.Context, userID int64, cursor string, limit int) (*ConversationPage, error)
	// Conversation returns one. ENOTFOUND if it is not in the user's list.
	Conversation(ctx context.Context, userID int64, conversationID string) (*Conversation, error)
	// MarkRead marks the conversation read up to version, a version of the
	// user's timeline (EINVALID past its head), and appends an EntryRead to
	// the user's timeline and, for a 1:1 conversation, the peer's. A version
	// at or before ReadVersion changes nothing.
	MarkRead(ctx context.Context, userID int64, conversationID string, version uint64) (*Conversation, error)
	// SetMuted mutes or unmutes the conversation and tells the user's other
	// devices by an EntryConversation. Setting the current value appends nothing.
	SetMuted(ctx context.Context, userID int64, conversationID string, muted bool) (*Conversation, error)
	// DeleteConversation hides the conversation from the list, all read, and
	// tells the user's other devices by an EntryConversation. Idempotent.
	DeleteConversation(ctx context.Context, userID int64, conversationID string) error
}
