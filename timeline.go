package tether

import (
	"encoding/json"
	"time"
)

// Entry kinds of a timeline Entry. Every kind but EntryMessage carries its
// data in Event.
const (
	EntryMessage      = "message"      // a chat message (Message)
	EntryRecall       = "recall"       // a message was recalled (RecallEvent)
	EntryRead         = "read"         // a conversation was read (ReadEvent)
	EntryConversation = "conversation" // the user muted, unmuted or deleted a conversation (ConversationEvent)
	EntryGroup        = "group"        // something happened in a group (GroupEvent)
	EntryPush         = "push"         // a persisted push from a third-party service
)

// Entry is one item of a user's timeline: the unit of sync and of push.
// Versions are per user, strictly increasing and gap-free.
type Entry struct {
	Version        uint64          `json:"version"`
	Kind           string          `json:"kind"`
	ConversationID string          `json:"conversation_id,omitempty"` // the conversation the entry belongs to, if any
	Message        *Message        `json:"message,omitempty"`         // EntryMessage
	Event          json.RawMessage `json:"event,omitempty"`           // every other kind: a JSON object
}

// RecallEvent is the Event of an EntryRecall entry.
type RecallEvent struct {
	MessageID  int64     `json:"message_id"`
	SenderID   int64     `json:"sender_id"`
	RecalledAt time.Time `json:"recalled_at"`
}

// ReadEvent is the Event of an EntryRead entry: ReaderID has read the
// conversation up to and including MessageID. Version is the reader's own
// timeline version and is set only in the reader's timeline.
type ReadEvent struct {
	ReaderID  int64  `json:"reader_id"`
	MessageID int64  `json:"message_id"`
	Version   uint64 `json:"version,omitempty"`
}

// ConversationEvent is the Event of an EntryConversation entry, which only
// the user's own devices get.
type ConversationEvent struct {
	Muted   bool `json:"muted"`
	Deleted bool `json:"deleted"`
}

// SyncPage is a page of a user's timeline after a version.
type SyncPage struct {
	Entries     []Entry `json:"entries"`
	NextSince   uint64  `json:"next_since"`   // pass as since for the next page
	HasMore     bool    `json:"has_more"`     //
	HeadVersion uint64  `json:"head_version"` // the user's newest version now
}
