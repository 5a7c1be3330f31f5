package tether

import "context"

// Push node discovery: clients ask the API where to connect instead of
// carrying a fixed list of push node addresses, so nodes can be added,
// drained and replaced without touching clients.

// DefaultPushNodes and MaxPushNodes bound how many nodes one discovery
// answer lists: the first is where to connect, the others are where to go
// when it fails.
const (
	DefaultPushNodes = 4
	MaxPushNodes     = 16
)

// PushNode is a push node a client may connect to.
type PushNode struct {
	ID  string `json:"id"`           // the node id, for logs and support
	TCP string `json:"tcp"`          // host:port for the raw TCP protocol
	WS  string `json:"ws,omitempty"` // ws:// or wss:// URL of its WebSocket listener; absent without one
}

// DiscoveryService hands out push nodes.
type DiscoveryService interface {
	// PushNodes returns up to limit (1 to MaxPushNodes, else EINVALID)
	// nodes that take new connections, least loaded first; never one that
	// is draining or being hot-restarted. EUNAVAILABLE when the registry
	// cannot be read; an empty list when no node is ready.
	PushNodes(ctx context.Context, limit int) ([]PushNode, error)
}
