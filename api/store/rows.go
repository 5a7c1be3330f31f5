package store

import (
	"encoding/json"
	"time"

	"github.com/tetherim/tether"
)

// Row types map the tables of sql/*/00001_init.sql one to one.

type userRow struct {
	ID           int64     `gorm:"column:id;primaryKey;autoIncrement"`
	Username     string    `gorm:"column:username"`
	PasswordHash string    `gorm:"column:password_hash"`
	CreatedAt    time.Time `gorm:"column:created_at"`
}

func (userRow) TableName() string { return "users" }

func (u userRow) user() *tether.User {
	return &tether.User{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt.UTC()}
}

type sessionRow struct {
	ID              string     `gorm:"column:id;primaryKey"`
	UserID          int64      `gorm:"column:user_id"`
	DeviceID        string     `gorm:"column:device_id"`
	Platform        string     `gorm:"column:platform"`
	AppVersion      string     `gorm:"column:app_version"` // sql/*/00008_session_app_version.sql
	RefreshHash     string     `gorm:"column:refresh_hash"`
	PrevRefreshHash *string    `gorm:"column:prev_refresh_hash"`
	ExpiresAt       time.Time  `gorm:"column:expires_at"`
	RevokedAt       *time.Time `gorm:"column:revoked_at"`
	CreatedAt       time.Time  `gorm:"column:created_at"`
}

func (sessionRow) TableName() string { return "auth_sessions" }

type messageRow struct {
	ID             int64      `gorm:"column:id;primaryKey;autoIncrement"`
	ConversationID string     `gorm:"column:conversation_id"`
	SenderID       int64      `gorm:"column:sender_id"`
	RecipientID    *int64     `gorm:"column:recipient_id"` // nil for group messages
	GroupID        *int64     `gorm:"column:group_id"`     // nil for 1:1 messages
	ClientMsgID    string     `gorm:"column:client_msg_id"`
	Type           string     `gorm:"column:type"`
	Content        string     `gorm:"column:content"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
	RecalledAt     *time.Time `gorm:"column:recalled_at"`
}

func (messageRow) TableName() string { return "messages" }

func (m messageRow) message() tether.Message {
	msg := tether.Message{
		ID:             m.ID,
		ConversationID: m.ConversationID,
		SenderID:       m.SenderID,
		ClientMsgID:    m.ClientMsgID,
		Type:           m.Type,
		Content:        json.RawMessage(m.Content),
		CreatedAt:      m.CreatedAt.UTC(),
	}
	if m.RecipientID != nil {
		msg.RecipientID = *m.RecipientID
	}
	if m.GroupID != nil {
		msg.GroupID = *m.GroupID
	}
	if m.RecalledAt != nil {
		// A recalled message keeps its row (history shows the gap) but not its content.
		at := m.RecalledAt.UTC()
		msg.RecalledAt, msg.Content = &at, json.RawMessage(`{}`)
	}
	return msg
}

type headRow struct {
	UserID  int64  `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	Version uint64 `gorm:"column:version"`
}

func (headRow) TableName() string { return "timeline_heads" }

type timelineRow struct {
	UserID         int64   `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	Version        uint64  `gorm:"column:version;primaryKey;autoIncrement:false"`
	Kind           string  `gorm:"column:kind"`
	MessageID      *int64  `gorm:"column:message_id"`
	ConversationID *string `gorm:"column:conversation_id"`
	Event          *string `gorm:"column:event"` // JSON object, for kinds other than message
}

func (timelineRow) TableName() string { return "timeline" }

type outboxRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	CreatedAt time.Time `gorm:"column:created_at"`
	Payload   string    `gorm:"column:payload"`
}

func (outboxRow) TableName() string { return "outbox" }

// conversationRow is one entry of a user's conversation list.
type conversationRow struct {
	UserID         int64     `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	ConversationID string    `gorm:"column:conversation_id;primaryKey"`
	PeerID         *int64    `gorm:"column:peer_id"`
	GroupID        *int64    `gorm:"column:group_id"`
	LastMessageID  int64     `gorm:"column:last_message_id"`
	LastVersion    uint64    `gorm:"column:last_version"`
	ReadVersion    uint64    `gorm:"column:read_version"`
	UnreadCount    int       `gorm:"column:unread_count"`
	Muted          bool      `gorm:"column:muted"`
	Hidden         bool      `gorm:"column:hidden"`
	UpdatedAt      time.Time `gorm:"column:updated_at"`
}

func (conversationRow) TableName() string { return "conversations" }

type groupRow struct {
	ID           int64      `gorm:"column:id;primaryKey;autoIncrement"`
	Name         string     `gorm:"column:name"`
	AvatarURL    string     `gorm:"column:avatar_url"`
	Announcement string     `gorm:"column:announcement"`
	OwnerID      int64      `gorm:"column:owner_id"`
	MutedAll     bool       `gorm:"column:muted_all"`
	MemberCount  int        `gorm:"column:member_count"`
	CreatedAt    time.Time  `gorm:"column:created_at"`
	UpdatedAt    time.Time  `gorm:"column:updated_at"`
	DissolvedAt  *time.Time `gorm:"column:dissolved_at"`
}

func (groupRow) TableName() string { return "chat_groups" }

type groupMemberRow struct {
	GroupID    int64      `gorm:"column:group_id;primaryKey;autoIncrement:false"`
	UserID     int64      `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	Role       string     `gorm:"column:role"`
	MutedUntil *time.Time `gorm:"column:muted_until"`
	JoinedAt   time.Time  `gorm:"column:joined_at"`
}

func (groupMemberRow) TableName() string { return "group_members" }

type groupInvitationRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	GroupID   int64     `gorm:"column:group_id"`
	InviterID int64     `gorm:"column:inviter_id"`
	InviteeID int64     `gorm:"column:invitee_id"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (groupInvitationRow) TableName() string { return "group_invitations" }
