package switches

import (
	"context"
	"log/slog"
	"time"
)

// publishTimeout bounds the publish after a change.
const publishTimeout = time.Second

// Publisher tells every other process about a new snapshot (RedisBus).
type Publisher interface {
	Publish(ctx context.Context, s *Snapshot) error
}

// Service is the writer's side: it checks a change, stores it, makes it
// current in this process and publishes the new snapshot to the others.
type Service struct {
	Store     Store
	Registry  *Registry
	Publisher Publisher // nil: a single process
}

// Set applies c. Once the store has it, the change is made: a failure to
// publish is logged, and the other processes get it from their periodic
// reload instead.
func (s *Service) Set(ctx context.Context, c Change) (Record, error) {
	c, err := c.Check(s.Registry)
	if err != nil {
		return Record{}, err
	}
	rec, err := s.Store.Set(ctx, c)
	if err != nil {
		return Record{}, err
	}
	snap, err := s.Store.Snapshot(ctx)
	if err != nil {
		slog.Warn("switches: reading the snapshot after a change failed; the reload will pick it up", "switch", c.Name, "err", err)
		return rec, nil
	}
	s.Registry.Install(snap)
	if s.Publisher != nil {
		// Bounded: with Redis down the change is made all the same, and
		// the caller should not wait on a dependency it does not need.
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		if err := s.Publisher.Publish(pctx, snap); err != nil {
			slog.Warn("switches: publishing a change failed; other processes get it from their reload", "switch", c.Name, "version", snap.Version, "err", err)
		}
	}
	slog.Info("switch changed", "switch", c.Name, "old", rec.OldValue, "new", rec.NewValue, "actor", c.Actor, "version", rec.ID)
	return rec, nil
}

// Reload reads the store and installs its snapshot if it is newer; it
// reports whether it did.
func (s *Service) Reload(ctx context.Context) (bool, error) {
	snap, err := s.Store.Snapshot(ctx)
	if err != nil {
		return false, err
	}
	return s.Registry.Install(snap), nil
}
