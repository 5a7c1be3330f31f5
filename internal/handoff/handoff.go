// Package handoff is the protocol of a push node's hot restart: how a
// running process hands its listeners and live connections, with their
// session state, to a new process of the same node over a Unix stream
// socket. The node's part (what it detaches, adopts and restarts) is in
// push/hotrestart*.go; this package owns only what travels on the socket.
//
// Every message is a 9-byte header, sent in one sendmsg together with the
// message's file descriptors (SCM_RIGHTS), then its payload:
//
//	kind u8 | fds u32 | payload length u32 | payload (gob)
//
// The old process (O) listens on the node's upgrade socket (Listen); the
// new one (N) connects (Dial), O answers (Accept), and the conversation is:
//
//	N->O hello     {Version, NodeID, PID}
//	O->N hello     {Version, NodeID, PID}     either side sends refuse instead and hangs up
//	N->O hello     (again: N accepts O; nothing has changed hands yet)
//	O->N listeners [ListenerState] + one fd each
//	O->N conns     [ConnState] + one fd each, at most Batch per message, repeated
//	O->N end       {Acks}
//	N->O done      {}                         N owns everything; O closes its copies and exits
package handoff

import (
	"errors"
	"os"

	"github.com/tetherim/tether/shared/route"
)

// Version changes whenever anything in this package's messages changes
// incompatibly; both sides refuse a peer with another version, so a binary
// never adopts connections it would misread.
const Version = 1

// Batch is the most descriptors sent in one message: Linux caps
// SCM_RIGHTS at 253 per message, and smaller batches keep the number of
// descriptors held twice (by both processes) low.
const Batch = 200

// ErrRefused wraps the reason a peer gave for refusing the handoff.
var ErrRefused = errors.New("handoff: refused by the peer")

// Hello is what each side tells the other before anything changes hands.
type Hello struct {
	Version int
	NodeID  string
	PID     int
}

// Me is this process's Hello for node nodeID.
func Me(nodeID string) Hello {
	return Hello{Version: Version, NodeID: nodeID, PID: os.Getpid()}
}

// ListenerState names a listener whose descriptor travels beside it.
type ListenerState struct {
	Name string // "tcp", "ws", or a name given to push.Node.ShareListener
	Addr string
}

// ConnState is one connection's session state as it moves between
// processes; its socket's descriptor travels beside it.
type ConnState struct {
	ID         string
	Remote     string
	Open       bool // handshake done: the fields below are set
	UID        int64
	Session    route.Session
	AppVersion string
	Proto      uint8 // the protocol version the session's Welcome granted (0 from a process that predates version 2: 1)
	OpenedMS   int64
	WS         *WSState // WebSocket state; nil for raw TCP
	Registered bool     // the route is in Redis
	Pending    bool     // the route still has to be written (Redis was down)
	Told       uint64   // for Pending: the newest version the client is known to have
	Rewrite    bool     // for Pending: the route existed before and Redis may have lost it
	Closing    bool     // the connection closes once Out is written
	In         []byte   // read from the socket but not processed (e.g. half a frame)
	Out        []byte   // queued for the client but not written
}

// WSState is a WebSocket connection's protocol state (push/transport_ws.go).
type WSState struct {
	Upgraded, Frag, Open, Responded, CloseSent bool
	Req, Msg                                   []byte
	Status, Final                              uint16
}

// End closes the stream of connections.
type End struct {
	Acks []route.Ack // acks not yet written to Redis
}
