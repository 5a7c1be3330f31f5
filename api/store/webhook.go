package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Offline-notification webhook deliveries (sql/*/00006_webhooks.sql): the
// relay queues one per (message, recipient without a live session) in the
// transaction that removes the outbox row, and api/webhook sends them.

// States of a webhook delivery.
const (
	WebhookPending   = "pending"   // waiting for its next attempt (or being sent, under a lease)
	WebhookDelivered = "delivered" // the receiver answered 2xx
	WebhookFailed    = "failed"    // gave up: a non-retryable answer or too many attempts; kept for inspection
)

// maxWebhookError bounds the last_error column.
const maxWebhookError = 512

// OfflineNotice asks for one webhook delivery: message MessageID reached
// UserID, who had no live push session.
type OfflineNotice struct {
	MessageID      int64
	UserID         int64
	ConversationID string          // no delivery if UserID muted this conversation
	Message        json.RawMessage // the tether.Message as JSON
}

// WebhookDelivery is one queued, sent or failed webhook call.
type WebhookDelivery struct {
	ID            int64
	MessageID     int64
	UserID        int64
	Message       json.RawMessage
	State         string
	Attempts      int       // attempts started, including the one in progress
	NextAttemptAt time.Time // pending: when it is due (or its lease ends); delivered or failed: when that happened
	LastError     string
	CreatedAt     time.Time
}

type webhookRow struct {
	ID            int64     `gorm:"column:id;primaryKey;autoIncrement"`
	MessageID     int64     `gorm:"column:message_id"`
	UserID        int64     `gorm:"column:user_id"`
	Message       string    `gorm:"column:message"`
	State         string    `gorm:"column:state"`
	Attempts      int       `gorm:"column:attempts"`
	NextAttemptAt time.Time `gorm:"column:next_attempt_at"`
	LastError     string    `gorm:"column:last_error"`
	CreatedAt     time.Time `gorm:"column:created_at"`
	UpdatedAt     time.Time `gorm:"column:updated_at"`
}

func (webhookRow) TableName() string { return "webhook_deliveries" }

func (r webhookRow) delivery() WebhookDelivery {
	return WebhookDelivery{
		ID: r.ID, MessageID: r.MessageID, UserID: r.UserID, Message: json.RawMessage(r.Message),
		State: r.State, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(),
		LastError: r.LastError, CreatedAt: r.CreatedAt.UTC(),
	}
}

// ClaimOutboxNotify is ClaimOutbox whose fn also returns offline notices:
// they are queued as webhook deliveries in the same transaction that deletes
// the rows, so they exist exactly when the rows are gone. A notice for a
// (message, user) already queued is ignored, so a batch handled twice
// notifies once.
func (db *DB) ClaimOutboxNotify(ctx context.Context, limit int, fn func(rows []OutboxRow) ([]OfflineNotice, error)) (int, error) {
	return db.claimOutbox(ctx, limit, func(tx *gorm.DB, rows []OutboxRow) error {
		notices, err := fn(rows)
		if err != nil || len(notices) == 0 {
			return err
		}
		return db.queueWebhooks(tx, notices)
	})
}

func (db *DB) queueWebhooks(tx *gorm.DB, notices []OfflineNotice) error {
	muted, err := mutedConversations(tx, notices)
	if err != nil {
		return err
	}
	t := now()
	rows := make([]webhookRow, 0, len(notices))
	for _, n := range notices {
		if n.MessageID <= 0 || n.UserID <= 0 || !json.Valid(n.Message) {
			return fmt.Errorf("store: bad offline notice for message %d, user %d", n.MessageID, n.UserID)
		}
		if muted[mutedKey{n.UserID, n.ConversationID}] {
			continue
		}
		rows = append(rows, webhookRow{
			MessageID: n.MessageID, UserID: n.UserID, Message: string(n.Message), State: WebhookPending,
			NextAttemptAt: t, CreatedAt: t, UpdatedAt: t,
		})
	}
	if len(rows) == 0 {
		return nil
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&rows, 256).Error
}

type mutedKey struct {
	userID         int64
	conversationID string
}

// mutedConversations returns which of the notices' (user, conversation)
// pairs the user muted, in one query on the conversations primary key.
func mutedConversations(tx *gorm.DB, notices []OfflineNotice) (map[mutedKey]bool, error) {
	uidSet, convSet := map[int64]bool{}, map[string]bool{}
	for _, n := range notices {
		if n.ConversationID != "" {
			uidSet[n.UserID], convSet[n.ConversationID] = true, true
		}
	}
	if len(uidSet) == 0 {
		return nil, nil
	}
	uids, convs := slices.Collect(maps.Keys(uidSet)), slices.Collect(maps.Keys(convSet))
	var rows []conversationRow
	err := tx.Select("user_id", "conversation_id").
		Where("user_id IN ? AND conversation_id IN ? AND muted = ?", uids, convs, true).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: muted conversations: %w", err)
	}
	out := make(map[mutedKey]bool, len(rows))
	for _, r := range rows {
		out[mutedKey{r.UserID, r.ConversationID}] = true
	}
	return out, nil
}

// ClaimWebhooks leases up to limit due pending deliveries (next_attempt_at
// <= now): each gets its attempts counted and next_attempt_at moved lease
// ahead, in the claiming transaction, so another worker neither takes it now
// (on MySQL rows locked by another claim are skipped) nor before the lease
// ends. If the worker dies mid-send the delivery is retried after the lease.
// Finish a claimed delivery with MarkWebhook, passing its Attempts.
func (db *DB) ClaimWebhooks(ctx context.Context, limit int, lease time.Duration) ([]WebhookDelivery, error) {
	if limit <= 0 || limit > maxClaim {
		return nil, fmt.Errorf("store: claim limit %d out of range 1..%d", limit, maxClaim)
	}
	if lease <= 0 {
		return nil, errors.New("store: webhook lease must be positive")
	}
	var out []WebhookDelivery
	err := db.tx(ctx, func(tx *gorm.DB) error {
		out = out[:0]
		t := now()
		var rows []webhookRow
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
			Where("state = ? AND next_attempt_at <= ?", WebhookPending, t).
			Order("next_attempt_at").Order("id").Limit(limit).Find(&rows).Error
		if err != nil {
			return err
		}
		until := t.Add(lease)
		// One update per primary key, like deleteOutbox: no range scan that
		// would wait on rows another worker holds.
		for _, r := range rows {
			err := tx.Model(&webhookRow{}).Where("id = ?", r.ID).Updates(map[string]any{
				"attempts": r.Attempts + 1, "next_attempt_at": until, "updated_at": t,
			}).Error
			if err != nil {
				return err
			}
			r.Attempts++
			r.NextAttemptAt = until
			out = append(out, r.delivery())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim webhooks: %w", err)
	}
	return out, nil
}

// WebhookOutcome is how one attempt ended.
type WebhookOutcome struct {
	State     string    // WebhookDelivered, WebhookFailed, or WebhookPending to retry
	RetryAt   time.Time // when State is WebhookPending
	LastError string    // why the attempt failed, if it did
}

// MarkWebhook records the outcome of attempt number attempt of a delivery.
// It changes nothing (and returns false) if the delivery is no longer at
// that attempt: its lease ran out and another worker claimed it since, and
// that worker's outcome is the one that counts.
func (db *DB) MarkWebhook(ctx context.Context, id int64, attempt int, o WebhookOutcome) (bool, error) {
	switch o.State {
	case WebhookDelivered, WebhookFailed, WebhookPending:
	default:
		return false, fmt.Errorf("store: unknown webhook state %q", o.State)
	}
	if len(o.LastError) > maxWebhookError {
		o.LastError = strings.ToValidUTF8(o.LastError[:maxWebhookError], "")
	}
	t := now()
	// A finished delivery's next_attempt_at becomes when it finished, so
	// pruning is a range scan of the (state, next_attempt_at) index.
	set := map[string]any{"state": o.State, "last_error": o.LastError, "updated_at": t, "next_attempt_at": t}
	if o.State == WebhookPending {
		set["next_attempt_at"] = o.RetryAt.UTC().Truncate(time.Millisecond)
	}
	var n int64
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&webhookRow{}).Where("id = ? AND attempts = ? AND state = ?", id, attempt, WebhookPending).Updates(set)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("store: mark webhook %d: %w", id, err)
	}
	return n == 1, nil
}

// WebhookBacklog counts pending deliveries (due or waiting for a retry).
func (db *DB) WebhookBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := db.g.WithContext(ctx).Model(&webhookRow{}).Where("state = ?", WebhookPending).Count(&n).Error
	return n, err
}

// WebhookDeliveries lists deliveries in a state ("" for all), oldest first,
// at most limit; for inspection and tests.
func (db *DB) WebhookDeliveries(ctx context.Context, state string, limit int) ([]WebhookDelivery, error) {
	q := db.g.WithContext(ctx).Order("id").Limit(limit)
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var rows []webhookRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	out := make([]WebhookDelivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// PruneWebhooks deletes deliveries delivered before cutoff, at most limit of
// them, and returns how many. Until then their unique key keeps a
// republished message from notifying twice; failed ones are kept.
func (db *DB) PruneWebhooks(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var ids []int64
	err := db.g.WithContext(ctx).Model(&webhookRow{}).
		Where("state = ? AND next_attempt_at < ?", WebhookDelivered, cutoff.UTC()).Order("next_attempt_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	res := db.g.WithContext(ctx).Where("id IN ? AND state = ?", ids, WebhookDelivered).Delete(&webhookRow{})
	return res.RowsAffected, res.Error
}
