package push

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/gobwas/ws"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/metrics"
)

// The WebSocket transport carries the same frames as raw TCP, one Tether
// frame per binary WebSocket message in both directions, so that browsers
// can connect. It runs on the same netpoll pollers as TCP with no goroutine
// per connection: the HTTP upgrade is collected from whatever input has
// arrived (never blocking on a partial request), and WebSocket framing is
// added in the connection's write path, so the per-connection queue and its
// batching (one flush for several frames) work unchanged.
// PROTOCOL.md ("WebSocket") is the client-facing description.

const (
	// WSPath is the only request path the WebSocket listener upgrades.
	WSPath = "/ws"
	// WSSubprotocol is echoed when a client offers it in
	// Sec-WebSocket-Protocol; offering it is optional.
	WSSubprotocol = "tether.v1"
	// wsMaxRequest caps the HTTP upgrade request (request line and headers).
	wsMaxRequest = 8 << 10
)

// WebSocket close status codes the node sends; see PROTOCOL.md.
const (
	wsStatusNormal      ws.StatusCode = 1000
	wsStatusGoingAway   ws.StatusCode = 1001
	wsStatusProtocol    ws.StatusCode = 1002
	wsStatusUnsupported ws.StatusCode = 1003
	wsStatusTooBig      ws.StatusCode = 1009
	wsStatusTether      ws.StatusCode = 4000 // + the Tether code of the final Error, Close or Kick
)

var (
	wsHeaderEnd = []byte("\r\n\r\n")
	errWSOutput = errors.New("push: output queue holds a partial frame")
)

// wsListener is the node's optional WebSocket listener. Its event loop is a
// second netpoll server on the process-wide pollers the TCP listener uses.
type wsListener struct {
	ln      netpoll.Listener
	evl     netpoll.EventLoop
	addr    *net.TCPAddr
	done    chan struct{}
	origins map[string]bool // allowed Origin values, lower case; empty: any
}

// wsConn is the WebSocket state of a connection accepted on the WebSocket
// listener; a raw TCP connection has none.
type wsConn struct {
	// Read side, touched only by onRequest (netpoll runs it for one
	// connection at a time).
	upgraded bool
	req      []byte        // the upgrade request collected so far; nil after it
	msg      []byte        // a fragmented message being reassembled; nil otherwise
	frag     bool          // a fragmented message is in progress
	status   ws.StatusCode // close status chosen by a read-side failure; under conn.wmu

	// Write side, guarded by conn.wmu.
	open      bool          // the 101 response went out: output is WebSocket-framed
	responded bool          // an HTTP rejection went out: nothing more is written
	closeSent bool          // the final WebSocket Close went out
	final     ws.StatusCode // close status derived from the last Error, Close or Kick frame
}

// listenWS binds the WebSocket listener if Config.WSAddr is set.
func (n *Node) listenWS() error {
	if n.cfg.WSAddr == "" {
		return nil
	}
	ln, err := n.listenShared("ws", n.cfg.WSAddr) // binds, or takes it over in a hot restart (hotrestart.go)
	if err != nil {
		return fmt.Errorf("push: listen websocket %s: %w", n.cfg.WSAddr, err)
	}
	evl, err := n.newEventLoop()
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("push: websocket event loop: %w", err)
	}
	addr, _ := ln.Addr().(*net.TCPAddr)
	if addr == nil {
		_ = ln.Close()
		return fmt.Errorf("push: websocket listener address %v is not TCP", ln.Addr())
	}
	origins := map[string]bool{}
	for _, o := range n.cfg.WSOrigins {
		if o = normalizeOrigin(o); o != "" {
			origins[o] = true
		}
	}
	n.ws = wsListener{ln: ln, evl: evl, addr: addr, done: make(chan struct{}), origins: origins}
	return nil
}

// serveWS starts serving the WebSocket listener, if any.
func (n *Node) serveWS() {
	if n.ws.ln == nil {
		return
	}
	go func() {
		defer close(n.ws.done)
		if err := n.ws.evl.Serve(n.ws.ln); err != nil && !n.closingDown() {
			n.log.Error("push: websocket serve stopped", "err", err)
		}
	}()
}

// stopWS stops the WebSocket listener and waits for its server to return.
func (n *Node) stopWS(ctx context.Context) {
	if n.ws.ln == nil {
		return
	}
	shutdownLoop(ctx, n.ws.evl, n.ws.done)
}

// WSAddr returns the bound WebSocket listen address; nil before Start or
// without Config.WSAddr.
func (n *Node) WSAddr() net.Addr {
	if n.ws.addr == nil {
		return nil
	}
	return n.ws.addr
}

// advertiseWS is the WebSocket URL recorded for clients' discovery:
// Config.AdvertiseWS, or one derived from the bound listener; empty without
// a WebSocket listener.
func (n *Node) advertiseWS() string {
	if n.cfg.AdvertiseWS != "" {
		return n.cfg.AdvertiseWS
	}
	if a := n.WSAddr(); a != nil {
		return "ws://" + a.String() + "/ws"
	}
	return ""
}

// wsFor returns fresh WebSocket state if nc was accepted on the WebSocket
// listener (recognised by its local address), nil for raw TCP.
func (n *Node) wsFor(nc netpoll.Connection) *wsConn {
	a := n.ws.addr
	if a == nil {
		return nil
	}
	la, ok := nc.LocalAddr().(*net.TCPAddr)
	if !ok || la.Port != a.Port || (!a.IP.IsUnspecified() && !a.IP.Equal(la.IP)) {
		return nil
	}
	return &wsConn{}
}

func normalizeOrigin(o string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
}

// onWSRequest is onRequest for a WebSocket connection: the upgrade request
// first, then WebSocket frames each holding one Tether frame.
func (c *conn) onWSRequest(r netpoll.Reader) error {
	s := c.ws
	for r.Len() > 0 {
		if c.isClosing() {
			_ = r.Skip(r.Len())
			_ = r.Release()
			return nil
		}
		if !s.upgraded {
			c.wsReadRequest(r)
			continue
		}
		if !c.wsReadFrame(r) {
			return nil
		}
	}
	return nil
}

// wsReadRequest consumes input up to the end of the upgrade request, and
// upgrades once the request is whole. A partial request is kept in s.req
// and the poller goroutine returns: netpoll calls again when more arrives,
// and the handshake timer bounds the wait.
func (c *conn) wsReadRequest(r netpoll.Reader) {
	s := c.ws
	avail := r.Len()
	if room := wsMaxRequest + 1 - len(s.req); avail > room {
		avail = room
	}
	p, err := r.Peek(avail)
	if err != nil {
		c.readFailed(err)
		return
	}
	from := max(len(s.req)-len(wsHeaderEnd)+1, 0)
	s.req = append(s.req, p...)
	take := avail
	end := -1
	if i := bytes.Index(s.req[from:], wsHeaderEnd); i >= 0 {
		end = from + i + len(wsHeaderEnd)
		// Bytes after the request (frames sent early) stay in the reader.
		take -= len(s.req) - end
		s.req = s.req[:end]
	}
	_ = r.Skip(take)
	_ = r.Release()
	switch {
	case end >= 0:
		c.wsUpgrade()
	case len(s.req) > wsMaxRequest:
		c.wsReject(http.StatusRequestHeaderFieldsTooLarge, "upgrade request too large")
	}
}

// wsUpgrade answers the whole request in s.req: 101 and WebSocket framing
// from now on, or an HTTP error and close.
func (c *conn) wsUpgrade() {
	s := c.ws
	n := c.n
	done := n.m.Begin(metrics.LayerPush, "ws_upgrade", frameBudget)
	var resp bytes.Buffer
	u := ws.Upgrader{
		ReadBufferSize: wsMaxRequest,
		Protocol:       func(p []byte) bool { return string(p) == WSSubprotocol },
		OnRequest: func(uri []byte) error {
			if path, _, _ := bytes.Cut(uri, []byte("?")); string(path) != WSPath {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound),
					ws.RejectionReason("no websocket endpoint here; use "+WSPath))
			}
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if len(n.ws.origins) > 0 && string(key) == "Origin" && !n.ws.origins[normalizeOrigin(string(value))] {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusForbidden),
					ws.RejectionReason("origin not allowed"))
			}
			return nil
		},
	}
	_, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(s.req), &resp})
	s.req = nil
	done(err)
	if err != nil {
		status := http.StatusBadRequest
		var rej *ws.ConnectionRejectedError
		if errors.As(err, &rej) && rej.StatusCode() != 0 {
			status = rej.StatusCode()
		}
		// The upgrader wrote the matching HTTP response into resp, except
		// for a request line it could not parse.
		out := resp.Bytes()
		if len(out) == 0 {
			out = httpResponse(status, "malformed upgrade request")
		}
		c.wsRespond(out)
		c.fail(wire.CodeBadFrame, fmt.Sprintf("websocket upgrade refused (%d): %v", status, err))
		return
	}
	s.upgraded = true
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || s.responded {
		return // the handshake timer or Stop won and answered with an HTTP error
	}
	if err := writeRaw(c.nc.Writer(), resp.Bytes()); err != nil {
		s.responded = true
		_ = c.nc.Close()
		return
	}
	s.open = true
}

// wsReject answers a request that cannot be upgraded with an HTTP error and
// closes the connection.
func (c *conn) wsReject(status int, text string) {
	c.wsRespond(httpResponse(status, text))
	c.fail(wire.CodeBadFrame, fmt.Sprintf("websocket upgrade refused (%d): %s", status, text))
}

// wsRespond writes an HTTP rejection before anything else is written; the
// Error frame that closes the connection then writes nothing.
func (c *conn) wsRespond(resp []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || c.ws.responded || c.ws.open {
		return
	}
	c.ws.responded = true
	_ = writeRaw(c.nc.Writer(), resp)
}

// wsReadFrame reads one WebSocket frame. Like the TCP path it waits (up to
// the read timeout) for the rest of a started frame. It reports false if
// reading must stop.
func (c *conn) wsReadFrame(r netpoll.Reader) bool {
	s := c.ws
	n := c.n
	b, err := r.Peek(2)
	if err != nil {
		c.readFailed(err)
		return false
	}
	hl := 2
	switch b[1] & 0x7f {
	case 126:
		hl += 2
	case 127:
		hl += 8
	}
	masked := b[1]&0x80 != 0
	if masked {
		hl += 4
	}
	hb, err := r.Peek(hl)
	if err != nil {
		c.readFailed(err)
		return false
	}
	fin := hb[0]&0x80 != 0
	op := ws.OpCode(hb[0] & 0x0f)
	length := uint64(hb[1] & 0x7f)
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(hb[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(hb[2:10])
	}
	// Everything is checked from the header alone, so a bad or oversized
	// frame is refused before any of its payload is buffered.
	limit := uint64(wire.HeaderSize + n.cfg.MaxPayload)
	var (
		code   = wire.CodeBadFrame
		status = wsStatusProtocol
		why    string
	)
	switch {
	case hb[0]&0x70 != 0:
		why = "websocket: reserved bits set; no extension was negotiated"
	case !masked:
		why = "websocket: client frames must be masked"
	case op.IsReserved():
		why = fmt.Sprintf("websocket: reserved opcode %#x", byte(op))
	case op.IsControl() && (!fin || length > 125):
		why = "websocket: control frames must be whole and at most 125 bytes"
	case op == ws.OpText:
		why, status = "websocket: text messages are not supported; send each frame as a binary message", wsStatusUnsupported
	case op == ws.OpContinuation && !s.frag:
		why = "websocket: continuation frame without a message"
	case op == ws.OpBinary && s.frag:
		why = "websocket: new message before the fragmented one ended"
	case op.IsData() && uint64(len(s.msg))+length > limit:
		why, code, status = fmt.Sprintf("websocket: message over %d bytes", limit), wire.CodeFrameTooLarge, wsStatusTooBig
	}
	if why != "" {
		n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(errors.New(code.String())), 0)
		c.wsFailStatus(status)
		c.fail(code, why)
		return true // onWSRequest skips the rest now that the conn is closing
	}
	fb, err := r.Next(hl + int(length))
	if err != nil {
		c.readFailed(err)
		return false
	}
	p := fb[hl:]
	ws.Cipher(p, [4]byte(hb[hl-4:hl]), 0)
	switch op {
	case ws.OpClose:
		n.log.Debug("push: websocket close from client", "conn", c.id)
		c.closeWith(wire.TypeClose, wire.CodeNormal, "")
	case ws.OpPing:
		// Answered as RFC 6455 requires, but only Tether frames count as
		// activity for the idle timeout.
		c.wsControl(ws.OpPong, p)
	case ws.OpPong:
	default:
		if fin && !s.frag {
			c.wsMessage(p) // the common case: no copy
			break
		}
		s.msg = append(s.msg, p...)
		s.frag = !fin
		if fin {
			m := s.msg
			s.msg = nil
			c.wsMessage(m)
		}
	}
	_ = r.Release()
	return true
}

// wsMessage handles one whole binary message, which must hold exactly one
// Tether frame.
func (c *conn) wsMessage(m []byte) {
	n := c.n
	if len(m) < wire.HeaderSize {
		n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(errors.New(wire.CodeBadFrame.String())), 0)
		c.fail(wire.CodeBadFrame, "websocket message shorter than a frame header")
		return
	}
	t, size, err := wire.ParseHeader(m, n.cfg.MaxPayload)
	if code, ok := c.admit(t); !ok {
		n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(errors.New(code.String())), 0)
		c.fail(code, "frame "+t.String()+" not allowed here")
		return
	}
	if err == nil && wire.HeaderSize+size != len(m) {
		err = fmt.Errorf("%w: a websocket message must hold exactly one frame", wire.ErrMalformed)
	}
	if err != nil {
		n.m.Observe(metrics.LayerPush, "invalid", 0, metrics.ClientError(err), 0)
		c.fail(wire.CodeOf(err), err.Error())
		return
	}
	c.lastSeen.Store(time.Now().UnixNano())
	budget := frameBudget
	if t == wire.TypeHello {
		budget = helloBudget
	}
	done := n.m.Begin(metrics.LayerPush, t.String(), budget, c.ids()...)
	done(metrics.ClientError(c.handle(t, m[wire.HeaderSize:]))) // see handle
}

// wsFailStatus records the close status a read-side failure ends with.
func (c *conn) wsFailStatus(st ws.StatusCode) {
	c.wmu.Lock()
	c.ws.status = st
	c.wmu.Unlock()
}

// wsControl writes a control frame at once, outside the output queue:
// control frames may interleave with messages, and one must not wait
// behind a long queue.
func (c *conn) wsControl(op ws.OpCode, p []byte) {
	var b [2 + 125]byte
	b[0], b[1] = 0x80|byte(op), byte(len(p))
	f := append(b[:2], p...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || !c.ws.open || c.ws.closeSent {
		return
	}
	if err := writeRaw(c.nc.Writer(), f); err != nil {
		c.n.log.Debug("push: websocket control write failed", "conn", c.id, "err", err)
	}
}

// wsGoodbye sends the WebSocket Close that ends a connection after its final
// Tether frame, so browsers see an orderly close with a meaningful status.
func (c *conn) wsGoodbye() {
	s := c.ws
	if s == nil {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed || !s.open || s.closeSent {
		return
	}
	s.closeSent = true
	st := s.status
	if st == 0 {
		st = s.final
	}
	if st == 0 {
		st = wsStatusNormal
	}
	_ = writeRaw(c.nc.Writer(), []byte{0x88, 2, byte(st >> 8), byte(st)})
}

// writeWS is write for a WebSocket connection; the caller holds wmu. Each
// Tether frame in b becomes one binary message, all in one flush. Before
// the upgrade the only output is an HTTP error made from the final Error or
// Close frame (e.g. 408 for the handshake timeout).
func (c *conn) writeWS(w netpoll.Writer, b []byte) error {
	s := c.ws
	if s.closeSent || s.responded {
		return nil
	}
	if !s.open {
		r, ok := lastReason(b)
		if !ok {
			return nil // nothing is sent before the upgrade but a rejection
		}
		s.responded = true
		return writeRaw(w, httpResponse(httpStatus(r.Code), r.Code.String()+": "+r.Text))
	}
	size := 0
	for p := b; len(p) > 0; {
		fl, err := outFrameLen(p)
		if err != nil {
			return err
		}
		size += wsHeaderLen(fl) + fl
		p = p[fl:]
	}
	dst, err := w.Malloc(size)
	if err != nil {
		return err
	}
	for p := b; len(p) > 0; {
		fl, _ := outFrameLen(p)
		k := putWSHeader(dst, fl)
		copy(dst[k:], p[:fl])
		if st, ok := finalStatus(p[:fl]); ok {
			s.final = st
		}
		dst, p = dst[k+fl:], p[fl:]
	}
	return w.Flush()
}

// outFrameLen is the length of the whole frame at the start of an output queue.
func outFrameLen(p []byte) (int, error) {
	_, n, err := wire.ParseHeader(p, MaxServerPayload+wire.HeaderSize)
	if err != nil || wire.HeaderSize+n > len(p) {
		return 0, errWSOutput
	}
	return wire.HeaderSize + n, nil
}

// wsHeaderLen is the size of an unmasked server frame header for n payload bytes.
func wsHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// putWSHeader writes a final binary frame header for n payload bytes.
func putWSHeader(dst []byte, n int) int {
	dst[0] = 0x80 | byte(ws.OpBinary)
	switch {
	case n <= 125:
		dst[1] = byte(n)
		return 2
	case n <= 0xffff:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(n))
		return 4
	}
	dst[1] = 127
	binary.BigEndian.PutUint64(dst[2:10], uint64(n))
	return 10
}

// finalStatus maps a connection's last frame to the WebSocket close status:
// 1000 for Close(normal), 1001 for Close(shutting_down), 4000 + code for
// any other Error, Close or Kick.
func finalStatus(f []byte) (ws.StatusCode, bool) {
	t := wire.Type(f[0])
	if t != wire.TypeError && t != wire.TypeClose && t != wire.TypeKick {
		return 0, false
	}
	if len(f) < wire.HeaderSize+2 {
		return 0, false
	}
	code := wire.Code(binary.BigEndian.Uint16(f[wire.HeaderSize:]))
	switch {
	case t == wire.TypeClose && code == wire.CodeNormal:
		return wsStatusNormal, true
	case t == wire.TypeClose && code == wire.CodeShuttingDown:
		return wsStatusGoingAway, true
	}
	return wsStatusTether + ws.StatusCode(code), true
}

// lastReason finds the last Error, Close or Kick frame in an output queue.
func lastReason(b []byte) (wire.Reason, bool) {
	var (
		r     wire.Reason
		found bool
	)
	for len(b) > 0 {
		fl, err := outFrameLen(b)
		if err != nil {
			break
		}
		if ft := wire.Type(b[0]); ft == wire.TypeError || ft == wire.TypeClose || ft == wire.TypeKick {
			if f, err := wire.DecodePayload(ft, b[wire.HeaderSize:fl]); err == nil {
				r, found = f.Reason, true
			}
		}
		b = b[fl:]
	}
	return r, found
}

// httpStatus is the HTTP status that refuses an upgrade for a Tether code.
func httpStatus(c wire.Code) int {
	switch c {
	case wire.CodeHandshakeTimeout:
		return http.StatusRequestTimeout
	case wire.CodeShuttingDown:
		return http.StatusServiceUnavailable
	case wire.CodeTooManyConnections:
		return http.StatusTooManyRequests
	case wire.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// httpResponse is a complete, closing HTTP/1.1 error response.
func httpResponse(status int, text string) []byte {
	body := text + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// writeRaw copies b into the connection's output and flushes it.
func writeRaw(w netpoll.Writer, b []byte) error {
	dst, err := w.Malloc(len(b))
	if err != nil {
		return err
	}
	copy(dst, b)
	return w.Flush()
}
