package push

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/gobwas/ws"

	"github.com/tetherim/tether/shared/route"
)

// The handoff protocol moves a running node's listeners and live
// connections to a new process over a Unix stream socket (see
// hotrestart.go). Every message is a 9-byte header, sent in one sendmsg
// together with the message's file descriptors (SCM_RIGHTS), then its
// payload:
//
//	kind u8 | fds u32 | payload length u32 | payload (gob)
//
// The old process (O) listens on Config.UpgradeSocket; the new one (N)
// connects and the conversation is:
//
//	N->O hello     {Version, NodeID, PID}
//	O->N hello     {Version, NodeID, PID}     either side sends refuse instead and hangs up
//	N->O hello     (again: N accepts O; nothing has changed hands yet)
//	O->N listeners [{Name, Addr}] + one fd each
//	O->N conns     [connState] + one fd each, at most handoffBatch per message, repeated
//	O->N end       {Acks}
//	N->O done      {}                         N owns everything; O closes its copies and exits
//
// handoffVersion changes whenever any of this changes incompatibly; both
// sides refuse a peer with another version, so a binary never adopts
// connections it would misread.
const handoffVersion = 1

// handoffBatch is the most descriptors sent in one message: Linux caps
// SCM_RIGHTS at 253 per message, and smaller batches keep the number of
// descriptors held twice (by both processes) low.
const handoffBatch = 200

const (
	msgHello byte = iota + 1
	msgRefuse
	msgListeners
	msgConns
	msgEnd
	msgDone
)

const handoffHeader = 9

// maxHandoffPayload bounds one message: a batch of connections with their
// queued output (each at most MaxQueued) fits comfortably.
const maxHandoffPayload = 1 << 30

type handoffHello struct {
	Version int
	NodeID  string
	PID     int
}

type handoffRefuse struct{ Reason string }

type listenerState struct {
	Name string // "tcp", or a name given to Node.ShareListener
	Addr string
}

// connState is one connection's session state as it moves between processes.
type connState struct {
	ID         string
	Remote     string
	Open       bool // handshake done: the fields below are set
	UID        int64
	Session    route.Session
	AppVersion string
	OpenedMS   int64
	WS         *wsState // WebSocket state; nil for raw TCP
	Registered bool     // the route is in Redis
	Pending    bool     // the route still has to be written (Redis was down)
	Told       uint64   // for Pending: the newest version the client is known to have
	Rewrite    bool     // for Pending: the route existed before and Redis may have lost it
	Closing    bool     // the connection closes once Out is written
	In         []byte   // read from the socket but not processed (e.g. half a frame)
	Out        []byte   // queued for the client but not written
}

type handoffEnd struct {
	Acks []route.Ack // acks not yet written to Redis
}

// handoffConn is one side of the handoff socket.
type handoffConn struct {
	uc *net.UnixConn
}

// send writes one message; fds travel with its header.
func (h *handoffConn) send(kind byte, v any, fds []int) error {
	var payload bytes.Buffer
	if v != nil {
		if err := gob.NewEncoder(&payload).Encode(v); err != nil {
			return fmt.Errorf("push: handoff encode: %w", err)
		}
	}
	var hdr [handoffHeader]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:5], uint32(len(fds)))
	binary.BigEndian.PutUint32(hdr[5:9], uint32(payload.Len()))
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, oobn, err := h.uc.WriteMsgUnix(hdr[:], oob, nil)
	if err != nil {
		return fmt.Errorf("push: handoff send: %w", err)
	}
	if n != len(hdr) || oobn != len(oob) {
		return errors.New("push: handoff send: short write")
	}
	if payload.Len() == 0 {
		// No empty write: the peer may have read the header, acted on it
		// (done: the old process closes at once) and hung up, and a write
		// to a closed socket fails even with nothing to write.
		return nil
	}
	if _, err := h.uc.Write(payload.Bytes()); err != nil {
		return fmt.Errorf("push: handoff send: %w", err)
	}
	return nil
}

// recv reads one message into v (which may be nil to discard a payload)
// and returns its kind and descriptors. The caller owns the descriptors.
func (h *handoffConn) recv(v func(kind byte) any) (byte, []int, error) {
	var hdr [handoffHeader]byte
	oob := make([]byte, syscall.CmsgSpace(4*handoffBatch))
	var fds []int
	got := 0
	for got < len(hdr) {
		n, oobn, _, _, err := h.uc.ReadMsgUnix(hdr[got:], oob)
		if oobn > 0 {
			more, perr := parseRights(oob[:oobn])
			fds = append(fds, more...)
			if perr != nil {
				closeFDs(fds)
				return 0, nil, perr
			}
		}
		if err != nil {
			closeFDs(fds)
			if errors.Is(err, io.EOF) && got == 0 && n == 0 {
				return 0, nil, io.EOF
			}
			return 0, nil, fmt.Errorf("push: handoff receive: %w", err)
		}
		if n == 0 {
			closeFDs(fds)
			return 0, nil, io.ErrUnexpectedEOF
		}
		got += n
	}
	kind := hdr[0]
	want := int(binary.BigEndian.Uint32(hdr[1:5]))
	size := binary.BigEndian.Uint32(hdr[5:9])
	if want != len(fds) || size > maxHandoffPayload {
		closeFDs(fds)
		return 0, nil, fmt.Errorf("push: handoff message %d announced %d descriptors and %d bytes, got %d descriptors", kind, want, size, len(fds))
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(h.uc, payload); err != nil {
		closeFDs(fds)
		return 0, nil, fmt.Errorf("push: handoff receive: %w", err)
	}
	if dst := v(kind); dst != nil && size > 0 {
		if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(dst); err != nil {
			closeFDs(fds)
			return 0, nil, fmt.Errorf("push: handoff decode of message %d: %w", kind, err)
		}
	}
	return kind, fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("push: handoff control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("push: handoff rights: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// exchangeHello checks the peer's protocol version and node id. The peer
// learns about a refusal before the socket closes.
func (h *handoffConn) exchangeHello(nodeID string, pid int, sendFirst bool) (handoffHello, error) {
	me := handoffHello{Version: handoffVersion, NodeID: nodeID, PID: pid}
	if sendFirst {
		if err := h.send(msgHello, me, nil); err != nil {
			return handoffHello{}, err
		}
	}
	var peer handoffHello
	var refused handoffRefuse
	kind, fds, err := h.recv(func(k byte) any {
		switch k {
		case msgHello:
			return &peer
		case msgRefuse:
			return &refused
		}
		return nil
	})
	closeFDs(fds)
	switch {
	case err != nil:
		return peer, err
	case kind == msgRefuse:
		return peer, fmt.Errorf("push: handoff refused by the peer: %s", refused.Reason)
	case kind != msgHello:
		return peer, fmt.Errorf("push: handoff: expected hello, got message %d", kind)
	case peer.Version != handoffVersion:
		reason := fmt.Sprintf("handoff protocol version %d, this binary speaks %d", peer.Version, handoffVersion)
		_ = h.send(msgRefuse, handoffRefuse{Reason: reason}, nil)
		return peer, errors.New("push: incompatible peer: " + reason)
	case peer.NodeID != nodeID:
		reason := fmt.Sprintf("node id %q, this node is %q", peer.NodeID, nodeID)
		_ = h.send(msgRefuse, handoffRefuse{Reason: reason}, nil)
		return peer, errors.New("push: wrong peer: " + reason)
	}
	if sendFirst {
		// Confirms that this side accepts the peer too.
		return peer, h.send(msgHello, me, nil)
	}
	if err := h.send(msgHello, me, nil); err != nil {
		return peer, err
	}
	kind, fds, err = h.recv(func(k byte) any {
		if k == msgRefuse {
			return &refused
		}
		return nil
	})
	closeFDs(fds)
	switch {
	case err != nil:
		return peer, err
	case kind == msgRefuse:
		return peer, fmt.Errorf("push: handoff refused by the peer: %s", refused.Reason)
	case kind != msgHello:
		return peer, fmt.Errorf("push: handoff: expected the peer's confirmation, got message %d", kind)
	}
	return peer, nil
}

// wsState is a WebSocket connection's protocol state (transport_ws.go).
type wsState struct {
	Upgraded, Frag, Open, Responded, CloseSent bool
	Req, Msg                                   []byte
	Status, Final                              uint16
}

// saveWS copies w; the caller holds conn.wmu and no OnRequest runs.
func saveWS(w *wsConn) *wsState {
	if w == nil {
		return nil
	}
	return &wsState{
		Upgraded: w.upgraded, Frag: w.frag, Open: w.open, Responded: w.responded, CloseSent: w.closeSent,
		Req: w.req, Msg: w.msg, Status: uint16(w.status), Final: uint16(w.final),
	}
}

func (s *wsState) restore() *wsConn {
	if s == nil {
		return nil
	}
	return &wsConn{
		upgraded: s.Upgraded, frag: s.Frag, open: s.Open, responded: s.Responded, closeSent: s.CloseSent,
		req: s.Req, msg: s.Msg, status: ws.StatusCode(s.Status), final: ws.StatusCode(s.Final),
	}
}
