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

// GroupEvent is the Event of an EntryGroup entry, in every member's timeline
// (and in the timelines of members it removes).
type GroupEvent struct {
	GroupID int64   `json:"group_id"`
	Type    string  `json:"type"`               // created, updated, members_added, members_removed, left, role_changed, owner_transferred, muted, unmuted, dissolved
	ActorID int64   `json:"actor_id"`           // who did it
	UserIDs []int64 `json:"user_ids,omitempty"` // whom it concerns
	Role    string  `json:"role,omitempty"`     // role_changed: the new role
	// Until is when a member's mute ends (muted with user_ids).
	Until *time.Time `json:"until,omitempty"`
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

// ---- Conversations ----

// Limits of message content by type (MessageText, MessageImage,
// MessageFile); custom content is any JSON object up to MaxContentBytes.
const (
	MaxTextLen     = 4000 // characters of a text message's "text"
	MaxMentions    = 50   // user ids of a text message's "mentions"
	MaxMediaURLLen = 2048 // bytes of an image's or file's "url" and "thumbnail_url"
	MaxMediaName   = 255  // characters of a file's or image's "name"
	MaxMediaMIME   = 255  // characters of "mime"
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

// ---- Presence (issue 4) ----

// MaxPresenceUsers is how many users one presence query may ask about.
const MaxPresenceUsers = 200

// Presence is a user's online status as the caller may see it.
type Presence struct {
	UserID  int64    `json:"user_id"`
	Online  bool     `json:"online"`  // some device has a live push connection
	Devices []Device `json:"devices"` // those devices, by device id; empty when offline
}

// PresenceService reports who is online, from the push routing registry.
type PresenceService interface {
	// Presence returns the presence of each of userIDs (1 to
	// MaxPresenceUsers, else EINVALID), in request order. Unknown users,
	// and users who blocked the caller, appear offline.
	Presence(ctx context.Context, caller Caller, userIDs []int64) ([]Presence, error)
}

// PresenceSource reads live devices of many users at once, as user id ->
// device id -> platform (users with none absent). Implemented by
// route.Registry.
type PresenceSource interface {
	OnlineDevicesOf(ctx context.Context, userIDs []int64) (map[int64]map[string]string, error)
}

// ---- Push API for third-party services (issue 4) ----

// API key scopes. A key holds one or more.
const (
	ScopePush      = "push"      // POST /v1/push, /v1/push/batch; GET /v1/push/{id}
	ScopeBroadcast = "broadcast" // POST /v1/push/broadcast; GET /v1/push/{id}
	ScopeAdmin     = "admin"     // /v1/admin/api-keys
)

// Scopes lists the scopes a key may hold.
var Scopes = []string{ScopePush, ScopeBroadcast, ScopeAdmin}

// Push API limits. They are part of the contract (openapi.yaml).
const (
	MaxAPIKeyNameLen      = 64
	MaxAPIKeyRateLimit    = 1_000_000 // pushes per second
	MaxPushTargets        = 1000      // user_ids of one push
	MaxPushPayload        = 4 << 10   // bytes of a push's payload JSON object
	MaxPushBatch          = 500       // pushes of one POST /v1/push/batch
	MaxPushTTL            = 2419200   // seconds (28 days)
	DefaultTransientTTL   = 60        // seconds
	DefaultPersistedTTL   = 86400     // seconds
	MaxCollapseKeyLen     = 64
	MaxIdempotencyKeyLen  = 128
	PushIdempotencyWindow = 24 * time.Hour
)

// Push modes of a PushStatus.
const (
	PushTransient = "transient" // live connections only
	PushPersisted = "persisted" // a timeline entry of kind "push" for each target
	PushBroadcast = "broadcast" // every live session (of some platforms)
)

// APIKey is a server-to-server key as listed; its secret is never shown again.
type APIKey struct {
	ID        string     `json:"id"` // public handle, "k_..."
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	RateLimit int        `json:"rate_limit"` // pushes per second; 0: the server default
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// NewAPIKey is what an admin submits to create a key.
type NewAPIKey struct {
	Name      string
	Scopes    []string
	RateLimit int // 0: the server default
}

// CreatedAPIKey is a new key with its secret, returned once.
type CreatedAPIKey struct {
	APIKey
	Secret string `json:"secret"`
}

// APIKeyPage is a page of keys, oldest first.
type APIKeyPage struct {
	Keys       []APIKey `json:"keys"`
	NextCursor string   `json:"next_cursor,omitempty"` // empty when there is no more
}

// KeyCaller is the authenticated principal of a push API request.
type KeyCaller struct {
	KeyID     string // "admin" for the bootstrap TETHER_ADMIN_KEY
	Scopes    []string
	RateLimit int // pushes per second; 0: the server default
}

// Has reports whether the key holds scope.
func (k KeyCaller) Has(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// APIKeyService creates, lists, revokes and checks API keys.
type APIKeyService interface {
	// CreateKey stores a new key (only its hash) and returns it with its secret.
	CreateKey(ctx context.Context, k NewAPIKey) (*CreatedAPIKey, error)
	// Keys lists keys, revoked ones included, oldest first.
	Keys(ctx context.Context, cursor string, limit int) (*APIKeyPage, error)
	// RevokeKey revokes a key; revoking a revoked key is no error. ENOTFOUND for an unknown id.
	RevokeKey(ctx context.Context, id string) error
	// KeyBySecret returns the live key whose secret this is. EUNAUTHORIZED if
	// there is none or it is revoked.
	KeyBySecret(ctx context.Context, secret string) (*KeyCaller, error)
}

// PushRequest is one push to a list of users.
type PushRequest struct {
	UserIDs        []int64         `json:"user_ids"`
	Platforms      []string        `json:"platforms,omitempty"`
	Payload        json.RawMessage `json:"payload"`
	TTLSeconds     int             `json:"ttl_seconds,omitempty"` // 0: the mode's default
	CollapseKey    string          `json:"collapse_key,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Persist        bool            `json:"persist,omitempty"`
}

// PushResult is the answer to an accepted push.
type PushResult struct {
	PushID   string `json:"push_id"`
	Targeted int    `json:"targeted"` // transient: live sessions routed to; persisted: users given an entry
	// Duplicate is true when the idempotency key named an earlier push: it
	// was not sent again and PushID is the original's.
	Duplicate bool `json:"duplicate"`
}

// BroadcastRequest is a push to every live session, optionally only on some platforms.
type BroadcastRequest struct {
	Platforms  []string        `json:"platforms,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	TTLSeconds int             `json:"ttl_seconds,omitempty"` // 0: DefaultTransientTTL
}

// PushStatus is a push's delivery report. Delivered and Acknowledged are
// reported by push nodes in batches, so they lag by up to a second or so.
type PushStatus struct {
	PushID       string    `json:"push_id"`
	Mode         string    `json:"mode"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	Targeted     int64     `json:"targeted"`
	Delivered    int64     `json:"delivered"`
	Acknowledged int64     `json:"acknowledged"`
}

// PushService sends pushes on behalf of API keys.
type PushService interface {
	// Push sends one push. ECONFLICT when its idempotency key was used
	// within PushIdempotencyWindow for a different push.
	Push(ctx context.Context, by KeyCaller, p PushRequest) (*PushResult, error)
	// PushBatch sends several pushes; each item fails or succeeds on its own.
	PushBatch(ctx context.Context, by KeyCaller, ps []PushRequest) ([]PushBatchItem, error)
	// Broadcast sends a push to every live session.
	Broadcast(ctx context.Context, by KeyCaller, b BroadcastRequest) (*PushResult, error)
	// Status reports a push created by the same key. ENOTFOUND otherwise,
	// or once the status expired.
	Status(ctx context.Context, by KeyCaller, pushID string) (*PushStatus, error)
	// Allow spends n pushes of the key's rate limit: ERATELIMITED (an *Error
	// with RetryAfter) when over it.
	Allow(ctx context.Context, by KeyCaller, n int) error
}

// PushBatchItem is the outcome of one push of a batch: a result or an error.
type PushBatchItem struct {
	Result *PushResult
	Err    error
}

// ---- Groups (issue 4) ----

// Group limits. They are part of the contract (openapi.yaml).
const (
	MaxGroupNameLen     = 64   // characters
	MaxAnnouncementLen  = 2048 // characters
	MaxGroupMembers     = 2000 // the owner included; larger audiences use the push API
	MaxMembersPerCall   = 500  // user ids of one add-members call
	MaxGroupMuteSeconds = 366 * 24 * 3600
)

// Group member roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Types of a GroupEvent.
const (
	GroupCreated          = "created"
	GroupUpdated          = "updated"
	GroupMembersAdded     = "members_added"
	GroupMembersRemoved   = "members_removed"
	GroupLeft             = "left"
	GroupRoleChanged      = "role_changed"
	GroupOwnerTransferred = "owner_transferred"
	GroupMuted            = "muted"   // UserIDs empty: the whole group
	GroupUnmuted          = "unmuted" // UserIDs empty: the whole group
	GroupDissolved        = "dissolved"
	GroupInvited          = "invited" // only in the invitee's timeline
)

// Group is a chat group as its members see it.
type Group struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	AvatarURL    string    `json:"avatar_url"`
	Announcement string    `json:"announcement"`
	OwnerID      int64     `json:"owner_id"`
	MutedAll     bool      `json:"muted_all"`
	MemberCount  int       `json:"member_count"`
	MyRole       string    `json:"my_role"` // the caller's role
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// NewGroup is what a creator submits; the creator becomes the owner.
type NewGroup struct {
	Name         string
	AvatarURL    string
	Announcement string
	MemberIDs    []int64 // besides the creator; duplicates and the creator are ignored
}

// GroupUpdate changes a group's settings; nil fields stay as they are.
type GroupUpdate struct {
	Name         *string
	AvatarURL    *string // "" clears
	Announcement *string // "" clears
}

// GroupMember is one member of a group.
type GroupMember struct {
	UserID     int64      `json:"user_id"`
	Username   string     `json:"username"`
	Role       string     `json:"role"`
	MutedUntil *time.Time `json:"muted_until,omitempty"` // set while muted
	JoinedAt   time.Time  `json:"joined_at"`
}

// GroupPage is a page of the caller's groups, by group id ascending.
type GroupPage struct {
	Groups     []Group `json:"groups"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// GroupMemberPage is a page of a group's members, by user id ascending.
type GroupMemberPage struct {
	Members    []GroupMember `json:"members"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Invitation is a pending invitation of InviteeID into a group.
type Invitation struct {
	ID        int64     `json:"id"`
	GroupID   int64     `json:"group_id"`
	GroupName string    `json:"group_name"`
	InviterID int64     `json:"inviter_id"`
	InviteeID int64     `json:"invitee_id"`
	CreatedAt time.Time `json:"created_at"`
}

// InvitationPage is a page of the caller's invitations, oldest first.
type InvitationPage struct {
	Invitations []Invitation `json:"invitations"`
	NextCursor  string       `json:"next_cursor,omitempty"`
}

// GroupService manages groups, their members and invitations. Every change
// appends an EntryGroup entry (GroupEvent) to the timeline of every member,
// and of the members it removes.
//
// Errors: a group the caller is not a member of (or a dissolved one) is
// ENOTFOUND; a member without the permission is EFORBIDDEN; adding users who
// blocked the actor is EFORBIDDEN (naming none of them); going over
// MaxGroupMembers is ECONFLICT.
type GroupService interface {
	CreateGroup(ctx context.Context, userID int64, g NewGroup) (*Group, error)
	Groups(ctx context.Context, userID int64, cursor string, limit int) (*GroupPage, error)
	Group(ctx context.Context, userID, groupID int64) (*Group, error)
	// UpdateGroup: owner and admins.
	UpdateGroup(ctx context.Context, userID, groupID int64, u GroupUpdate) (*Group, error)
	// DissolveGroup: owner only. Afterwards the group is ENOTFOUND for everyone.
	DissolveGroup(ctx context.Context, userID, groupID int64) error
	Members(ctx context.Context, userID, groupID int64, cursor string, limit int) (*GroupMemberPage, error)
	// AddMembers: owner and admins; users already members are ignored.
	AddMembers(ctx context.Context, userID, groupID int64, userIDs []int64) (*Group, error)
	// RemoveMember: the owner removes admins and members, an admin members;
	// removing yourself is LeaveGroup.
	RemoveMember(ctx context.Context, userID, groupID, memberID int64) error
	// LeaveGroup: any member but the owner (ECONFLICT: transfer or dissolve first).
	LeaveGroup(ctx context.Context, userID, groupID int64) error
	// SetRole: owner only; role is RoleAdmin or RoleMember.
	SetRole(ctx context.Context, userID, groupID, memberID int64, role string) error
	// TransferOwnership: owner only, to another member; the old owner becomes an admin.
	TransferOwnership(ctx context.Context, userID, groupID, newOwnerID int64) error
	// MuteMember silences a member until the given time (nil: unmute). The
	// owner mutes anyone but themselves, an admin plain members.
	MuteMember(ctx context.Context, userID, groupID, memberID int64, until *time.Time) (*GroupMember, error)
	// MuteGroup: owner and admins; while muted only they may speak.
	MuteGroup(ctx context.Context, userID, groupID int64, muted bool) (*Group, error)
	// Invite: any member. ECONFLICT if the invitee is a member or invited already, or the group is full.
	Invite(ctx context.Context, userID, groupID, inviteeID int64) (*Invitation, error)
	Invitations(ctx context.Context, userID int64, cursor string, limit int) (*InvitationPage, error)
	// AcceptInvitation joins the group (ENOTFOUND if the invitation is not the caller's).
	AcceptInvitation(ctx context.Context, userID, invitationID int64) (*Group, error)
	// DeleteInvitation declines (the invitee) or cancels (the inviter, the
	// group's owner or admins) an invitation.
	DeleteInvitation(ctx context.Context, userID, invitationID int64) error
}
