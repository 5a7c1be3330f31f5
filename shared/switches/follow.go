package switches

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
)

// Follower keeps a process's Registry current: it installs every snapshot
// the Redis channel brings (within milliseconds of a change), and reloads
// from its Source every ReloadInterval (the switch) as the fallback for a
// lost message or a Redis outage. It never forgets: a failed reload keeps
// the last known values.
type Follower struct {
	Registry *Registry
	// Bus is the Redis channel to follow; nil follows the Source alone.
	Bus *RedisBus
	// Source is the periodic reload: the database on an API process
	// (Store.Snapshot), the Redis hash on a push node (Bus.Latest).
	Source func(ctx context.Context) (*Snapshot, error)
	// Repair, when set, publishes what Source returned if Redis holds an
	// older version: API processes set it, so a change whose publish failed
	// (Redis was down) or a Redis that lost its data is repaired within one
	// reload interval.
	Repair bool
	// File, when set, keeps the last installed snapshot on local disk: Start
	// loads it when the Source cannot answer, so a push node that starts
	// during a Redis outage still has the last known values.
	File string
}

// Start loads the switches once before the process serves: from the Source,
// else from File. A failure of both leaves the defaults (logged), never an
// error: switches must not stop a process from starting.
func (f *Follower) Start(ctx context.Context) {
	if f.File != "" {
		f.Registry.Watch(f.save)
	}
	err := f.reload(ctx)
	switch {
	case err == nil && f.Registry.Version() > 0:
		return
	case f.File == "":
		if err != nil {
			slog.Warn("switches: could not load the switches at start; using the defaults until the next reload", "err", err)
		}
		return
	}
	// The source failed, or answered but holds nothing (a Redis that lost
	// its data, or no switch ever set): the file may know better.
	b, err := os.ReadFile(f.File)
	if errors.Is(err, os.ErrNotExist) {
		return // first start: nothing was ever set here
	}
	if err != nil {
		slog.Warn("switches: could not read the local file; using the defaults until the next reload", "file", f.File, "err", err)
		return
	}
	s, err := DecodeSnapshot(b)
	if err != nil {
		slog.Warn("switches: the local file is unreadable; using the defaults", "file", f.File, "err", err)
		return
	}
	f.Registry.Install(s)
	slog.Info("switches: loaded the last known values from the local file", "file", f.File, "version", s.Version)
}

// Run follows the channel and reloads periodically until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	if f.Bus != nil {
		go f.listen(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(f.Registry.Duration(ReloadInterval), 100*time.Millisecond)):
		}
		if err := f.reload(ctx); err != nil && ctx.Err() == nil {
			slog.Debug("switches: reload failed; keeping the last known values", "err", err)
		}
	}
}

func (f *Follower) reload(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := f.Source(rctx)
	if err != nil || s == nil {
		return err
	}
	f.Registry.Install(s)
	if f.Repair && f.Bus != nil && s.Version > 0 {
		if repaired, err := f.Bus.publish(rctx, s); err == nil && repaired {
			slog.Info("switches: Redis held an older snapshot; republished", "version", s.Version)
		}
	}
	return nil
}

// listen installs every snapshot published on the channel. After each
// (re)subscription it reloads, since messages sent while it was not
// subscribed are lost.
func (f *Follower) listen(ctx context.Context) {
	sub := f.Bus.subscribe(ctx)
	defer sub.Close()
	for {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			select { // go-redis reconnects on the next Receive
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				_ = f.reload(ctx)
			}
		case *redis.Message:
			s, err := DecodeSnapshot([]byte(m.Payload))
			if err != nil {
				slog.Warn("switches: unreadable snapshot on the channel", "err", err)
				continue
			}
			f.Registry.Install(s)
		}
	}
}

// save writes s to File atomically (a temporary file renamed over it).
func (f *Follower) save(s *Snapshot) {
	tmp, err := os.CreateTemp(filepath.Dir(f.File), ".switches-*")
	if err == nil {
		_, err = tmp.Write(s.Encode())
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), f.File)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		slog.Warn("switches: could not keep the switches in the local file", "file", f.File, "err", err)
	}
}
