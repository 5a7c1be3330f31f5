package tether

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Message limits. They are part of the contract (openapi.yaml).
const (
	MaxClientMsgID  = 64
	MaxContentBytes = 16 << 10 // a message's content JSON
)

// Limits of message content by type (MessageText, MessageImage,
// MessageFile); custom content is any JSON object up to MaxContentBytes.
const (
	MaxTextLen     = 4000 // characters of a text message's "text"
	MaxMentions    = 50   // user ids of a text message's "mentions"
	MaxMediaURLLen = 2048 // bytes of an image's or file's "url" and "thumbnail_url"
	MaxMediaName   = 255  // characters of a file's or image's "name"
	MaxMediaMIME   = 255  // characters of "mime"
)

// Message kinds of a message's Type field.
const (
	MessageText   = "text"
	MessageImage  = "image"
	MessageFile   = "file"
	MessageCustom = "custom"
)

// MessageTypes lists the kinds a message's Type may be.
var MessageTypes = []string{MessageText, MessageImage, MessageFile, MessageCustom}

// Message is one chat message: 1:1 (RecipientID set) or to a group (GroupID set).
type Message struct {
	ID             int64           `json:"id"`
	ConversationID string          `json:"conversation_id"` // "d:{low}:{high}" for 1:1, "g:{group id}" for groups
	SenderID       int64           `json:"sender_id"`
	RecipientID    int64           `json:"recipient_id,omitempty"`
	GroupID        int64           `json:"group_id,omitempty"`
	ClientMsgID    string          `json:"client_msg_id"`
	Type           string          `json:"type"`
	Content        json.RawMessage `json:"content"` // {} once recalled
	CreatedAt      time.Time       `json:"created_at"`
	RecalledAt     *time.Time      `json:"recalled_at,omitempty"`
}

// NewMessage is what a sender submits. Exactly one of RecipientID and
// GroupID is set.
type NewMessage struct {
	RecipientID int64
	GroupID     int64
	ClientMsgID string // chosen by the client; a retry with the same id is the same message
	Type        string
	Content     json.RawMessage
}

// HistoryPage is a page of a conversation's messages, newest first when
// reading backwards (Before) and oldest first when reading forwards (After).
type HistoryPage struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor,omitempty"` // empty when there is no more
}

// HistoryQuery selects a page of history. At most one of Before and After is set;
// neither means the newest page.
type HistoryQuery struct {
	Before string
	After  string
	Limit  int
}

// MessageService sends messages and reads timelines and history.
type MessageService interface {
	// Send stores a 1:1 or group message, appends it to the timelines of the
	// participants and queues its delivery, all in one transaction. created
	// is false when the message already existed (a retry with the same
	// ClientMsgID).
	Send(ctx context.Context, from Caller, m NewMessage) (msg *Message, created bool, err error)
	// Sync returns the caller's timeline entries with version > since.
	Sync(ctx context.Context, userID int64, since uint64, limit int) (*SyncPage, error)
	// History returns a page of a conversation the caller is part of.
	History(ctx context.Context, userID int64, conversationID string, q HistoryQuery) (*HistoryPage, error)
	// Recall retracts one of the caller's own messages within the recall
	// window: its content is erased and every participant's timeline gets an
	// EntryRecall. Recalling a recalled message returns it and appends
	// nothing. EFORBIDDEN for someone else's message or after the window;
	// ENOTFOUND for a message the caller cannot see.
	Recall(ctx context.Context, from Caller, messageID int64) (*Message, error)
}

// Validate checks a message from the sender against the limits and the
// shape of its type, and returns its content in canonical form (what is
// stored and forwarded).
func (m NewMessage) Validate(from Caller) (json.RawMessage, error) {
	switch {
	case from.UserID <= 0:
		return nil, Errorf(EUNAUTHORIZED, "no authenticated sender")
	case (m.RecipientID > 0) == (m.GroupID > 0) || m.RecipientID < 0 || m.GroupID < 0:
		return nil, Errorf(EINVALID, "set exactly one of recipient_id and group_id, a positive id")
	case m.RecipientID == from.UserID:
		// Notes-to-self would append one entry to one timeline twice; refuse.
		return nil, Errorf(EINVALID, "cannot send a message to yourself")
	case m.ClientMsgID == "" || !Printable(m.ClientMsgID, MaxClientMsgID):
		return nil, Errorf(EINVALID, "client_msg_id must be 1 to %d printable characters", MaxClientMsgID)
	case !slices.Contains(MessageTypes, m.Type):
		return nil, Errorf(EINVALID, "type must be one of text, image, file, custom")
	case len(m.Content) == 0:
		return nil, Errorf(EINVALID, "content is required")
	}
	content, err := CanonicalObject("content", m.Content, MaxContentBytes)
	if err != nil {
		return nil, err
	}
	if err := validateContent(m.Type, content); err != nil {
		return nil, err
	}
	return content, nil
}
