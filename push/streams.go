package push

import (
	"context"
	"time"

	"github.com/tetherim/tether/shared/stream"
)

// Streams is what a node needs of the job streams (shared/stream): its
// own stream and the broadcast stream to read, and the other nodes'
// streams to publish kicks and signals to.
type Streams interface {
	stream.Publisher
	NodeSource(id string) stream.Source
	BroadcastSource(id string) stream.Source
	LeaveBroadcast(ctx context.Context, id string) error
	// NodeBacklog measures a node's job stream (backlog.go).
	NodeBacklog(ctx context.Context, id string) (stream.Backlog, error)
	SweepBroadcastGroups(ctx context.Context, minIdle time.Duration, limit int,
		alive func(ctx context.Context, ids []string) (map[string]bool, error)) ([]string, error)
}

var _ Streams = (*stream.Redis)(nil)
