// Package api holds Tether's domain: the types, service interfaces and error
// codes of the REST side, with no dependency on HTTP or SQL. api/store
// implements the services on gorm (MySQL or SQLite), api/rest serves them
// over HTTP with gin, and api/relay moves committed outbox rows to push nodes.
package api

import (
	"context"
	"encoding/json"
	"time"
)

// Limits enforced on input. They are part of the contract (openapi.yaml).
const (
	MinUsernameLen  = 3
	MaxUsernameLen  = 32
	MinPasswordLen  = 8
	MaxPasswordLen  = 256
	MaxDeviceIDLen  = 64
	MaxClientMsgID  = 64
	MaxContentBytes = 16 << 10 // a message's content JSON
	MaxPageSize     = 200
	DefaultPageSize = 50
)

// Platforms a device may declare.
var Platforms = []string{"ios", "android", "web", "desktop", "server", "other"}

// User is an account.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// Device identifies the client a login session belongs to.
type Device struct {
	ID       string `json:"device_id"`
	Platform string `json:"platform"`
}

// Tokens is the result of a login or a refresh.
type Tokens struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"` // always "Bearer"
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
	UserID       int64     `json:"user_id"`
	SessionID    string    `json:"session_id"`
}

// Caller is the authenticated principal of a request, from its access token.
type Caller struct {
	UserID    int64
	DeviceID  string
	Platform  string
	SessionID string
}

// AuthService manages accounts and login sessions.
type AuthService interface {
	// Register creates an account. ECONFLICT if the username is taken.
	Register(ctx context.Context, username, password string) (*User, error)
	// Login checks the password and opens a session for the device.
	// EUNAUTHORIZED for an unknown user or a wrong password (indistinguishable).
	Login(ctx context.Context, username, password string, dev Device) (*Tokens, error)
	// Refresh rotates a refresh token: the old one stops working. Reusing a
	// rotated token revokes its whole session (it was stolen or replayed).
	Refresh(ctx context.Context, refreshToken string) (*Tokens, error)
	// User returns an account by id. ENOTFOUND if there is none.
	User(ctx context.Context, id int64) (*User, error)
	// UserByName returns an account by username. ENOTFOUND if there is none.
	UserByName(ctx context.Context, username string) (*User, error)
}

// Message kinds of a message's Type field.
const (
	MessageText   = "text"
	MessageImage  = "image"
	MessageFile   = "file"
	MessageCustom = "custom"
)

// Message is one chat message.
type Message struct {
	ID             int64           `json:"id"`
	ConversationID string          `json:"conversation_id"` // "d:{low}:{high}" for 1:1
	SenderID       int64           `json:"sender_id"`
	RecipientID    int64           `json:"recipient_id"`
	ClientMsgID    string          `json:"client_msg_id"`
	Type           string          `json:"type"`
	Content        json.RawMessage `json:"content"`
	CreatedAt      time.Time       `json:"created_at"`
}

// NewMessage is what a sender submits.
type NewMessage struct {
	RecipientID int64
	ClientMsgID string // chosen by the client; a retry with the same id is the same message
	Type        string
	Content     json.RawMessage
}

// Entry kinds of a timeline Entry.
const EntryMessage = "message"

// Entry is one item of a user's timeline: the unit of sync and of push.
// Versions are per user, strictly increasing and gap-free.
type Entry struct {
	Version uint64   `json:"version"`
	Kind    string   `json:"kind"`
	Message *Message `json:"message,omitempty"`
}

// SyncPage is a page of a user's timeline after a version.
type SyncPage struct {
	Entries     []Entry `json:"entries"`
	NextSince   uint64  `json:"next_since"`   // pass as since for the next page
	HasMore     bool    `json:"has_more"`     //
	HeadVersion uint64  `json:"head_version"` // the user's newest version now
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
	// Send stores a 1:1 message, appends it to both timelines and queues its
	// delivery, all in one transaction. created is false when the message
	// already existed (a retry with the same ClientMsgID).
	Send(ctx context.Context, from Caller, m NewMessage) (msg *Message, created bool, err error)
	// Sync returns the caller's timeline entries with version > since.
	Sync(ctx context.Context, userID int64, since uint64, limit int) (*SyncPage, error)
	// History returns a page of a conversation the caller is part of.
	History(ctx context.Context, userID int64, conversationID string, q HistoryQuery) (*HistoryPage, error)
}

// ---- Profiles (issue 4) ----

// Profile limits.
const (
	MaxDisplayNameLen    = 64      // characters
	MaxAvatarURLLen      = 512     // bytes
	MaxProfileAttributes = 4 << 10 // bytes of the attributes JSON object
)

// Profile is a user's public profile. Attributes is a custom JSON object,
// {} when never set.
type Profile struct {
	ID          int64           `json:"id"`
	Username    string          `json:"username"`
	DisplayName string          `json:"display_name"`
	AvatarURL   string          `json:"avatar_url"`
	Attributes  json.RawMessage `json:"attributes"`
}

// ProfileUpdate changes a profile; nil fields stay as they are. An empty
// string clears DisplayName or AvatarURL; Attributes replaces the whole object.
type ProfileUpdate struct {
	DisplayName *string
	AvatarURL   *string
	Attributes  json.RawMessage
}

// ProfileService reads and updates profiles.
type ProfileService interface {
	// Profile returns the public profile of a user. ENOTFOUND if there is none.
	Profile(ctx context.Context, userID int64) (*Profile, error)
	// UpdateProfile applies u to the profile of userID and returns the result.
	// EINVALID / ETOOLARGE for input over the limits.
	UpdateProfile(ctx context.Context, userID int64, u ProfileUpdate) (*Profile, error)
}

// ---- Contacts and blocks (issue 4) ----

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
// blocked the sender.
type SocialService interface {
	AddContact(ctx context.Context, userID, contactID int64) error
	RemoveContact(ctx context.Context, userID, contactID int64) error
	Contacts(ctx context.Context, userID int64, cursor string, limit int) (*UserPage, error)
	Block(ctx context.Context, userID, blockedID int64) error
	Unblock(ctx context.Context, userID, blockedID int64) error
	Blocks(ctx context.Context, userID int64, cursor string, limit int) (*UserPage, error)
}

// ---- Login sessions and revocation (issue 4, accounts) ----

// SessionRevoker tells the push side that a login session was revoked: its
// access tokens are refused at the next handshake and its live connections
// on deviceID and platform are kicked. Implemented by route.Revoker.
type SessionRevoker interface {
	Revoke(ctx context.Context, userID int64, sessionID, deviceID, platform string) error
}

// SessionService manages the caller's own login sessions.
type SessionService interface {
	// Logout revokes the caller's login session: its refresh token stops
	// working and its access tokens are refused by push nodes. Idempotent.
	Logout(ctx context.Context, caller Caller) error
	// Devices lists the caller's live login sessions (not revoked, not
	// expired), newest first.
	Devices(ctx context.Context, caller Caller) ([]DeviceSession, error)
	// RevokeDevice revokes one of the caller's login sessions like Logout.
	// ENOTFOUND if it is not one of the caller's live sessions.
	RevokeDevice(ctx context.Context, caller Caller, sessionID string) error
	// ChangePassword checks the old password, sets the new one and revokes
	// every other session of the caller; the caller's own session stays.
	// EFORBIDDEN for a wrong old password, EINVALID for a bad new one.
	ChangePassword(ctx context.Context, caller Caller, oldPassword, newPassword string) error
}

// DeviceSession is one of a user's login sessions, as GET /v1/devices lists it.
type DeviceSession struct {
	SessionID  string    `json:"session_id"`
	DeviceID   string    `json:"device_id"`
	Platform   string    `json:"platform"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"` // the last login or refresh
	Current    bool      `json:"current"`      // the session of the caller's access token
	Online     bool      `json:"online"`       // the device has a live push connection on this platform
}

// OnlineDevices reports a user's devices with a live push connection, as
// device id -> platform (from the push routing registry). Implemented by
// route.Revoker.
type OnlineDevices interface {
	OnlineDevices(ctx context.Context, userID int64) (map[string]string, error)
}
