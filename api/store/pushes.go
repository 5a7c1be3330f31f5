package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tetherim/tether"
)

// PushEvent is the event of a timeline entry of kind tether.EntryPush: a
// persisted push from a third-party service. Clients drop one whose
// ExpiresAt has passed (push/client does), and may drop one meant for other
// platforms than their own.
type PushEvent struct {
	PushID      string          `json:"push_id"`
	Payload     json.RawMessage `json:"payload"`
	CollapseKey string          `json:"collapse_key,omitempty"`
	Platforms   []string        `json:"platforms,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
}

// PushService stores persisted pushes (api/pushapi's Persister).
type PushService struct{ db *DB }

// NewPushService returns the persisted-push store.
func NewPushService(db *DB) *PushService { return &PushService{db: db} }

// PersistPush appends one push entry to the timeline of each of users that
// exists, and queues its delivery (relay -> Message frames carrying the
// push id), in one transaction. collapse names, per user, the version of an
// older push entry with the same collapse key: it is rewritten in the same
// transaction to a collapsed event (no payload, "collapsed": true), so sync
// returns only the newest push of a collapse key with its payload. It
// returns the version of the new entry of each user that got one; unknown
// user ids are skipped.
func (s *PushService) PersistPush(ctx context.Context, pushID string, users []int64, ev PushEvent, collapse map[int64]uint64) (map[int64]uint64, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var versions map[int64]uint64
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		var known []int64
		for chunk := range slices.Chunk(users, fanoutChunk) {
			var ids []int64
			if err := tx.Model(&userRow{}).Where("id IN ?", chunk).Pluck("id", &ids).Error; err != nil {
				return err
			}
			known = append(known, ids...)
		}
		if len(known) == 0 {
			return nil
		}
		var err error
		if versions, err = appendToTimelines(tx, known, newEntry{Kind: tether.EntryPush, Event: body, PushID: pushID}); err != nil {
			return err
		}
		return collapsePushes(tx, collapse, ev.CollapseKey)
	})
	if err != nil {
		return nil, fmt.Errorf("store: persist push: %w", err)
	}
	return versions, nil
}

// collapsePushes rewrites the named push entries (primary-key reads and
// updates) to collapsed events, if they are still pushes of that collapse key.
func collapsePushes(tx *gorm.DB, entries map[int64]uint64, key string) error {
	for uid, v := range entries {
		var rows []timelineRow
		if err := tx.Where("user_id = ? AND version = ? AND kind = ?", uid, v, tether.EntryPush).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 || rows[0].Event == nil {
			continue
		}
		var old PushEvent
		if json.Unmarshal([]byte(*rows[0].Event), &old) != nil || old.CollapseKey != key {
			continue
		}
		b, err := json.Marshal(collapsedPush{PushID: old.PushID, CollapseKey: key, Collapsed: true, CreatedAt: old.CreatedAt, ExpiresAt: old.ExpiresAt})
		if err != nil {
			return err
		}
		if err := tx.Model(&timelineRow{}).Where("user_id = ? AND version = ?", uid, v).Update("event", string(b)).Error; err != nil {
			return err
		}
	}
	return nil
}

// collapsedPush is the event of a push entry a newer push of the same
// collapse key replaced.
type collapsedPush struct {
	PushID      string    `json:"push_id"`
	CollapseKey string    `json:"collapse_key"`
	Collapsed   bool      `json:"collapsed"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}
