package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tetherim/tether"
)

// PresenceService implements tether.PresenceService: live devices come from the
// push routing registry (src), and the store hides the presence of users who
// blocked the caller.
type PresenceService struct {
	db  *DB
	src tether.PresenceSource
}

var _ tether.PresenceService = (*PresenceService)(nil)

// NewPresenceService returns the presence service reading live devices from src.
func NewPresenceService(db *DB, src tether.PresenceSource) tether.PresenceService {
	return &PresenceService{db: db, src: src}
}

// Presence answers with one database query (who of userIDs blocked the
// caller) and one registry read for all the others.
func (s *PresenceService) Presence(ctx context.Context, caller tether.Caller, userIDs []int64) ([]tether.Presence, error) {
	switch {
	case caller.UserID <= 0:
		return nil, tether.Errorf(tether.EUNAUTHORIZED, "no authenticated caller")
	case len(userIDs) == 0 || len(userIDs) > tether.MaxPresenceUsers:
		return nil, tether.Errorf(tether.EINVALID, "user_ids must list 1 to %d user ids, got %d", tether.MaxPresenceUsers, len(userIDs))
	}
	ids := make([]int64, 0, len(userIDs))
	seen := make(map[int64]bool, len(userIDs))
	for _, id := range userIDs {
		if id <= 0 {
			return nil, tether.Errorf(tether.EINVALID, "user_ids must be positive integers, got %d", id)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var blockers []int64
	err := s.db.g.WithContext(ctx).Model(&blockRow{}).Where("blocked_id = ? AND user_id IN ?", caller.UserID, ids).Pluck("user_id", &blockers).Error
	if err != nil {
		return nil, fmt.Errorf("store: presence: %w", err)
	}
	// A user who blocked the caller is not even looked up: what the caller
	// sees of them must not depend on whether they are online.
	ids = slices.DeleteFunc(ids, func(id int64) bool { return slices.Contains(blockers, id) })
	online := map[int64]map[string]string{}
	if len(ids) > 0 {
		if online, err = s.src.OnlineDevicesOf(ctx, ids); err != nil {
			return nil, tether.Errorf(tether.EUNAVAILABLE, "presence is unavailable; retry later")
		}
	}
	out := make([]tether.Presence, len(userIDs))
	for i, id := range userIDs {
		devs := make([]tether.Device, 0, len(online[id]))
		for dev, plat := range online[id] {
			devs = append(devs, tether.Device{ID: dev, Platform: plat})
		}
		slices.SortFunc(devs, func(a, b tether.Device) int { return strings.Compare(a.ID, b.ID) })
		out[i] = tether.Presence{UserID: id, Online: len(devs) > 0, Devices: devs}
	}
	return out, nil
}
