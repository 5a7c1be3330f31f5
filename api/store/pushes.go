package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tetherim/tether/api"
)

// PushEvent is the event of a timeline entry of kind api.EntryPush: a
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
// push id), in one transaction. It returns how many users got the entry;
// unknown user ids are skipped.
func (s *PushService) PersistPush(ctx context.Context, pushID string, users []int64, ev PushEvent) (int, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.tx(ctx, func(tx *gorm.DB) error {
		var known []int64
		for chunk := range slices.Chunk(users, fanoutChunk) {
			var ids []int64
			if err := tx.Model(&userRow{}).Where("id IN ?", chunk).Pluck("id", &ids).Error; err != nil {
				return err
			}
			known = append(known, ids...)
		}
		n = len(known)
		if n == 0 {
			return nil
		}
		_, err := fanout(tx, known, newEntry{Kind: api.EntryPush, Event: body, PushID: pushID})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: persist push: %w", err)
	}
	return n, nil
}
