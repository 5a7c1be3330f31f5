package store

import (
	"encoding/json"
	"time"

	"github.com/tetherim/tether/api"
)

// Row types map the tables of sql/*/00001_init.sql one to one.

type userRow struct {
	ID           int64     `gorm:"column:id;primaryKey;autoIncrement"`
	Username     string    `gorm:"column:username"`
	PasswordHash string    `gorm:"column:password_hash"`
	CreatedAt    time.Time `gorm:"column:created_at"`
}

func (userRow) TableName() string { return "users" }

func (u userRow) user() *api.User {
	return &api.User{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt.UTC()}
}

type sessionRow struct {
	ID              string     `gorm:"column:id;primaryKey"`
	UserID          int64      `gorm:"column:user_id"`
	DeviceID        string     `gorm:"column:device_id"`
	Platform        string     `gorm:"column:platform"`
	RefreshHash     string     `gorm:"column:refresh_hash"`
	PrevRefreshHash *string    `gorm:"column:prev_refresh_hash"`
	ExpiresAt       time.Time  `gorm:"column:expires_at"`
	RevokedAt       *time.Time `gorm:"column:revoked_at"`
	CreatedAt       time.Time  `gorm:"column:created_at"`
}

func (sessionRow) TableName() string { return "auth_sessions" }

type messageRow struct {
	ID             int64     `gorm:"column:id;primaryKey;autoIncrement"`
	ConversationID string    `gorm:"column:conversation_id"`
	SenderID       int64     `gorm:"column:sender_id"`
	RecipientID    int64     `gorm:"column:recipient_id"`
	ClientMsgID    string    `gorm:"column:client_msg_id"`
	Type           string    `gorm:"column:type"`
	Content        string    `gorm:"column:content"`
	CreatedAt      time.Time `gorm:"column:created_at"`
}

func (messageRow) TableName() string { return "messages" }

func (m messageRow) message() api.Message {
	return api.Message{
		ID:             m.ID,
		ConversationID: m.ConversationID,
		SenderID:       m.SenderID,
		RecipientID:    m.RecipientID,
		ClientMsgID:    m.ClientMsgID,
		Type:           m.Type,
		Content:        json.RawMessage(m.Content),
		CreatedAt:      m.CreatedAt.UTC(),
	}
}

type headRow struct {
	UserID  int64  `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	Version uint64 `gorm:"column:version"`
}

func (headRow) TableName() string { return "timeline_heads" }

type timelineRow struct {
	UserID    int64  `gorm:"column:user_id;primaryKey;autoIncrement:false"`
	Version   uint64 `gorm:"column:version;primaryKey;autoIncrement:false"`
	Kind      string `gorm:"column:kind"`
	MessageID *int64 `gorm:"column:message_id"`
}

func (timelineRow) TableName() string { return "timeline" }

type outboxRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	CreatedAt time.Time `gorm:"column:created_at"`
	Payload   string    `gorm:"column:payload"`
}

func (outboxRow) TableName() string { return "outbox" }
