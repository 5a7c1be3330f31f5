package tether

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Conversation types.
const (
	ConversationDirect = "direct"
	ConversationGroup  = "group"
)

// DirectConversationID is the id of the 1:1 conversation of users a and b:
// "d:{low user id}:{high user id}", the same whoever sends.
func DirectConversationID(a, b int64) string {
	lo, hi := min(a, b), max(a, b)
	return "d:" + strconv.FormatInt(lo, 10) + ":" + strconv.FormatInt(hi, 10)
}

// GroupConversationID is the id of a group's conversation: "g:{group id}".
func GroupConversationID(groupID int64) string { return "g:" + strconv.FormatInt(groupID, 10) }

// ParseDirectConversationID returns the two users of a 1:1 conversation id,
// low first. Only the canonical form is accepted, so one conversation has
// one id.
func ParseDirectConversationID(id string) (lo, hi int64, ok bool) {
	rest, found := strings.CutPrefix(id, "d:")
	if !found {
		return 0, 0, false
	}
	l, h, found := strings.Cut(rest, ":")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseInt(l, 10, 64)
	hi, err2 := strconv.ParseInt(h, 10, 64)
	if err1 != nil || err2 != nil || lo <= 0 || lo >= hi || DirectConversationID(lo, hi) != id {
		return 0, 0, false
	}
	return lo, hi, true
}

// ParseGroupConversationID returns the group of a group conversation id;
// only the canonical form is accepted.
func ParseGroupConversationID(id string) (int64, bool) {
	rest, found := strings.CutPrefix(id, "g:")
	if !found {
		return 0, false
	}
	gid, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || gid <= 0 || GroupConversationID(gid) != id {
		return 0, false
	}
	return gid, true
}

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
