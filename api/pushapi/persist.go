package pushapi

import (
	"context"

	"github.com/tetherim/tether/api/store"
)

// StorePersister persists pushes as timeline entries of kind "push" in the
// store: one transaction appends the entry to every known target's timeline
// and queues its outbox row, which the relay turns into Message frames
// carrying the push id (counted as delivered by the nodes).
func StorePersister(s *store.PushService) Persister { return storePersister{s} }

type storePersister struct{ s *store.PushService }

func (p storePersister) PersistPush(ctx context.Context, pp PersistedPush) (map[int64]uint64, error) {
	return p.s.PersistPush(ctx, pp.PushID, pp.UserIDs, store.PushEvent{
		PushID: pp.PushID, Payload: pp.Payload, CollapseKey: pp.CollapseKey, Platforms: pp.Platforms,
		CreatedAt: pp.CreatedAt.UTC(), ExpiresAt: pp.ExpiresAt.UTC(),
	}, pp.Collapse)
}
