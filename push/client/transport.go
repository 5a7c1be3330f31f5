package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// A push address is "host:port" for raw TCP, or a "ws://host:port/ws" or
// "wss://host:port/ws" URL for WebSocket. Both carry the same frames: over
// WebSocket each frame is one binary message (push/PROTOCOL.md).

// wsSubprotocol is offered in the upgrade; the node echoes it.
const wsSubprotocol = "tether.v1"

// wsCloseWait bounds the WebSocket Close sent when a connection closes.
const wsCloseWait = 250 * time.Millisecond

// isWSAddr reports whether addr names a WebSocket endpoint.
func isWSAddr(addr string) bool {
	return strings.HasPrefix(addr, "ws://") || strings.HasPrefix(addr, "wss://")
}

// dialTransport connects to a push address and returns a connection that
// reads and writes the Tether frame stream, whatever the transport.
func dialTransport(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	if !isWSAddr(addr) {
		d := net.Dialer{Timeout: timeout, KeepAlive: -1}
		return d.DialContext(ctx, "tcp", addr)
	}
	d := ws.Dialer{
		Timeout:   timeout,
		Protocols: []string{wsSubprotocol},
		NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
			nd := net.Dialer{KeepAlive: -1}
			return nd.DialContext(ctx, network, a)
		},
	}
	nc, br, _, err := d.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	// The handshake's deadline must not outlive it.
	_ = nc.SetDeadline(time.Time{})
	if br == nil {
		br = bufio.NewReaderSize(nc, 4<<10)
	}
	return &wsStream{Conn: nc, br: br}, nil
}

// wsStream turns a WebSocket connection into the byte stream the frame
// reader expects: Read returns the payloads of binary messages in order,
// and each Write, which the client always makes with exactly one whole
// frame, becomes one masked binary message. Control frames are handled
// inside Read: pings are answered, a Close ends the stream with io.EOF.
type wsStream struct {
	net.Conn
	br *bufio.Reader

	left   int64 // payload bytes of the current data frame not yet read
	mask   [4]byte
	masked bool
	offset int // mask offset into the current frame

	wmu    sync.Mutex // one writer at a time: the client's writer and Read's pong replies
	closed bool       // a Close went out; nothing more is written
}

var errWSText = errors.New("tether client: websocket text message; the server must send binary")

func (s *wsStream) Read(p []byte) (int, error) {
	for s.left == 0 {
		h, err := ws.ReadHeader(s.br)
		if err != nil {
			return 0, err
		}
		switch {
		case h.OpCode == ws.OpText:
			return 0, errWSText
		case h.OpCode.IsControl():
			if err := s.control(h); err != nil {
				return 0, err
			}
			continue
		case h.OpCode.IsReserved() || h.Rsv != 0:
			return 0, fmt.Errorf("tether client: websocket protocol error: header %+v", h)
		}
		s.left, s.mask, s.masked, s.offset = h.Length, h.Mask, h.Masked, 0
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.br.Read(p)
	if s.masked {
		ws.Cipher(p[:n], s.mask, s.offset)
	}
	s.offset += n
	s.left -= int64(n)
	return n, err
}

// control handles a control frame: Ping gets a Pong, Close ends the stream.
func (s *wsStream) control(h ws.Header) error {
	if h.Length > 125 {
		return fmt.Errorf("tether client: websocket control frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(s.br, p); err != nil {
		return err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	switch h.OpCode {
	case ws.OpPing:
		return s.writeFrame(ws.OpPong, p)
	case ws.OpClose:
		return io.EOF
	}
	return nil
}

// Write sends p as one binary message.
func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.writeFrame(ws.OpBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *wsStream) writeFrame(op ws.OpCode, p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	var b bytes.Buffer
	b.Grow(ws.MaxHeaderSize + len(p))
	if err := ws.WriteHeader(&b, ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))}); err != nil {
		return err
	}
	hl := b.Len()
	b.Write(p)
	ws.Cipher(b.Bytes()[hl:], mask, 0)
	_, err := s.Conn.Write(b.Bytes())
	return err
}

// Close sends a WebSocket Close (best effort, briefly) and closes the socket.
func (s *wsStream) Close() error {
	_ = s.Conn.SetWriteDeadline(time.Now().Add(wsCloseWait))
	_ = s.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	s.wmu.Lock()
	s.closed = true
	s.wmu.Unlock()
	return s.Conn.Close()
}
