// Package discovery implements tether.DiscoveryService on the push routing
// registry (shared/route): the ready push nodes, least loaded first.
//
// Every client asks at every (re)connect, so an API process reads the
// registry at most once a second and orders that list afresh for each
// answer (route.LeastLoaded shuffles about-equal nodes, spreading the
// clients of one second over them). The loads are a heartbeat old anyway.
// When the registry cannot be read, a list up to MaxStale old is still
// handed out: a node that stopped since then refuses the client, which
// tries the next one.
package discovery

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
)

// Source lists the ready nodes; route.Registry implements it.
type Source interface {
	ReadyNodes(ctx context.Context) ([]route.Info, error)
}

const (
	// Fresh is how long one read of the registry serves answers.
	Fresh = time.Second
	// MaxStale is how long a list is handed out while the registry cannot be read.
	MaxStale = 30 * time.Second
)

// Service is the discovery service of one API process.
type Service struct {
	src Source
	now func() time.Time

	reads singleflight.Group // one registry read at a time; the others share it

	mu    sync.Mutex
	nodes []route.Info
	at    time.Time // when nodes was read; zero: never
}

var _ tether.DiscoveryService = (*Service)(nil)

// New returns the service reading src.
func New(src Source) *Service { return &Service{src: src, now: time.Now} }

// PushNodes implements tether.DiscoveryService.
func (s *Service) PushNodes(ctx context.Context, limit int) ([]tether.PushNode, error) {
	if limit < 1 || limit > tether.MaxPushNodes {
		return nil, tether.Errorf(tether.EINVALID, "limit must be 1 to %d, got %d", tether.MaxPushNodes, limit)
	}
	nodes, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	picked := route.LeastLoaded(nodes, limit)
	out := make([]tether.PushNode, len(picked))
	for i, n := range picked {
		out[i] = tether.PushNode{ID: n.ID, TCP: n.TCPAddr, WS: n.WSAddr}
	}
	return out, nil
}

// ready returns the ready nodes, read at most once per Fresh. Concurrent
// callers share one read (a slow registry holds up none of them past its
// own context).
func (s *Service) ready(ctx context.Context) ([]route.Info, error) {
	s.mu.Lock()
	nodes, at := s.nodes, s.at
	s.mu.Unlock()
	if !at.IsZero() && s.now().Sub(at) < Fresh {
		return nodes, nil
	}
	ch := s.reads.DoChan("ready", func() (any, error) {
		// Not the caller's context: the read serves every caller waiting on it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		nodes, err := s.src.ReadyNodes(rctx)
		if err == nil {
			s.mu.Lock()
			s.nodes, s.at = nodes, s.now()
			s.mu.Unlock()
		}
		return nodes, err
	})
	var err error
	select {
	case r := <-ch:
		if r.Err == nil {
			return r.Val.([]route.Info), nil
		}
		err = r.Err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if !at.IsZero() && s.now().Sub(at) < MaxStale {
		return nodes, nil
	}
	return nil, tether.Errorf(tether.EUNAVAILABLE, "push node discovery is unavailable (%v); retry later or use the push addresses you know", err)
}

// readTimeout bounds one registry read.
const readTimeout = 2 * time.Second
