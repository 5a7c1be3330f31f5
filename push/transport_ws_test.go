package push

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

// dialWS opens a WebSocket connection to the node's WebSocket listener with
// a client-side upgrade from the gobwas/ws library.
func dialWS(t testing.TB, n *Node) *tclient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, hs, err := ws.Dialer{Protocols: []string{WSSubprotocol}}.Dial(ctx, "ws://"+n.WSAddr().String()+WSPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if hs.Protocol != WSSubprotocol {
		t.Fatalf("subprotocol %q, want %q echoed", hs.Protocol, WSSubprotocol)
	}
	if br == nil {
		br = bufio.NewReader(nc)
	}
	return &tclient{t: t, nc: nc, r: br, ws: true}
}

// wsClientFrame is one masked client frame whose header announces extra
// more payload bytes than p holds.
func wsClientFrame(fin bool, op ws.OpCode, p []byte, extra int) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p) + extra)}
	var b strings.Builder
	_ = ws.WriteHeader(&b, h)
	out := append([]byte(b.String()), p...)
	ws.Cipher(out[len(out)-len(p):], mask, 0)
	return out
}

// nextWS reads one message, which must hold exactly one Tether frame.
// Control frames are skipped; the server's Close is recorded in wsStatus
// and reads as io.EOF.
func (c *tclient) nextWS() (wire.Frame, error) {
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return wire.Frame{}, err
		}
		if h.Masked || h.Length > 16<<20 {
			return wire.Frame{}, fmt.Errorf("bad server frame header %+v", h)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return wire.Frame{}, err
		}
		switch h.OpCode {
		case ws.OpClose:
			if len(p) >= 2 {
				c.wsClose = binary.BigEndian.Uint16(p)
			}
			return wire.Frame{}, io.EOF
		case ws.OpPing, ws.OpPong:
			if h.OpCode == ws.OpPong {
				c.wsPong = string(p)
			}
			continue
		case ws.OpBinary:
		default:
			return wire.Frame{}, fmt.Errorf("server sent opcode %v", h.OpCode)
		}
		if !h.Fin {
			return wire.Frame{}, fmt.Errorf("server fragmented a message")
		}
		f, n, err := wire.Decode(p, 16<<20)
		if err == nil && n != len(p) {
			err = fmt.Errorf("a message of %d bytes held a frame of %d: one frame per message broken", len(p), n)
		}
		return f, err
	}
}

// wsStatus returns the close status the server sent, once read.
func (c *tclient) wsStatus() ws.StatusCode { return ws.StatusCode(c.wsClose) }

func (c *tclient) hello(e *env, uid int64, device string) {
	c.t.Helper()
	c.send(wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(uid, device), DeviceID: device}))
	if f := c.read(); f.Type != wire.TypeWelcome {
		c.t.Fatalf("got %s %v, want welcome", f.Type, f.Reason)
	}
}

// rawWS dials the WebSocket port without upgrading.
func rawWS(t *testing.T, n *Node) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", n.WSAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

// readStatus reads an HTTP response's status and checks that the server
// closes the connection after it.
func readStatus(t *testing.T, nc net.Conn, br *bufio.Reader) int {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after %d: connection not closed: %v", resp.StatusCode, err)
	}
	return resp.StatusCode
}

func upgradeRequest(path string, extra ...string) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, x := range extra {
		h += x + "\r\n"
	}
	return h + "\r\n"
}

func TestWS_BadUpgradeRequestsGetHTTPErrorAndClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	cases := []struct {
		name string
		req  string
		want int
	}{
		{"missing upgrade header", strings.Replace(upgradeRequest(WSPath), "Upgrade: websocket\r\n", "", 1), http.StatusBadRequest},
		{"missing key", strings.Replace(upgradeRequest(WSPath), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), http.StatusBadRequest},
		{"missing host", strings.Replace(upgradeRequest(WSPath), "Host: x\r\n", "", 1), http.StatusBadRequest},
		{"wrong version", strings.Replace(upgradeRequest(WSPath), "Version: 13", "Version: 8", 1), http.StatusUpgradeRequired},
		{"wrong path", upgradeRequest("/other"), http.StatusNotFound},
		{"post", strings.Replace(upgradeRequest(WSPath), "GET", "POST", 1), http.StatusMethodNotAllowed},
		{"not http", "\x01\x00\x00\x00\x02\x01\x00\r\n\r\n", http.StatusBadRequest},
		{"too large", upgradeRequest(WSPath, "X-Big: "+strings.Repeat("a", wsMaxRequest)), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, br := rawWS(t, n)
			if _, err := nc.Write([]byte(tc.req)); err != nil {
				t.Fatal(err)
			}
			if got := readStatus(t, nc, br); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	c := e.on(overWS).dial() // the node still upgrades
	c.hello(e, 1, "d")
}

func TestWS_OriginCheckedAgainstConfiguredList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.WSOrigins = []string{"https://App.example.com/"} })
	n := e.start()
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"Origin: https://evil.example.com", http.StatusForbidden},
		{"Origin: https://app.example.com", http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols}, // non-browser clients send none
	} {
		nc, br := rawWS(t, n)
		req := upgradeRequest(WSPath)
		if tc.origin != "" {
			req = upgradeRequest(WSPath, tc.origin)
		}
		if _, err := nc.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if got := readStatus(t, nc, br); got != tc.want {
			t.Fatalf("%q: status %d, want %d", tc.origin, got, tc.want)
		}
	}
}

func TestWS_PartialUpgradeRequestWaitsForTheRestThenFramesMayFollowAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	nc, br := rawWS(t, n)
	req := upgradeRequest(WSPath)
	hello := wsClientFrame(true, ws.OpBinary, wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(3, "d"), DeviceID: "d"}), 0)
	// The request arrives in pieces, split inside the "\r\n\r\n" too, and
	// the Hello comes in the same write as the request's last bytes.
	cut1, cut2 := 10, len(req)-2
	for _, part := range [][]byte{[]byte(req[:cut1]), []byte(req[cut1:cut2]), append([]byte(req[cut2:]), hello...)} {
		if _, err := nc.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readStatus(t, nc, br); got != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", got)
	}
	c := &tclient{t: t, nc: nc, r: br, ws: true}
	if f := c.read(); f.Type != wire.TypeWelcome {
		t.Fatalf("got %s %v", f.Type, f.Reason)
	}
}

func TestWS_NoUpgradeWithinHandshakeTimeoutGets408(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	n := e.start()
	nc, br := rawWS(t, n)
	if _, err := nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readStatus(t, nc, br); got != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", got)
	}
}

func TestWS_TextMessageGetsErrorAndClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	c := e.on(overWS).dial()
	c.hello(e, 1, "d")
	if _, err := c.nc.Write(wsClientFrame(true, ws.OpText, []byte("hi"), 0)); err != nil {
		t.Fatal(err)
	}
	c.expectReason(wire.TypeError, wire.CodeBadFrame)
	c.expectClosed()
	if s := c.wsStatus(); s != wsStatusUnsupported {
		t.Fatalf("close status %d, want %d", s, wsStatusUnsupported)
	}
}

func TestWS_FragmentedMessageReassembledAroundControlFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	c := e.on(overWS).dial()
	hello := wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(4, "d"), DeviceID: "d"})
	var b []byte
	b = append(b, wsClientFrame(false, ws.OpBinary, hello[:3], 0)...)
	b = append(b, wsClientFrame(true, ws.OpPing, []byte("p1"), 0)...) // control frames may interleave
	b = append(b, wsClientFrame(false, ws.OpContinuation, hello[3:40], 0)...)
	b = append(b, wsClientFrame(false, ws.OpContinuation, nil, 0)...)
	if _, err := c.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the last fragment arrives separately
	if _, err := c.nc.Write(wsClientFrame(true, ws.OpContinuation, hello[40:], 0)); err != nil {
		t.Fatal(err)
	}
	if f := c.read(); f.Type != wire.TypeWelcome {
		t.Fatalf("got %s %v", f.Type, f.Reason)
	}
	if p := c.wsPong; p != "p1" {
		t.Fatalf("websocket ping answered with %v, want pong p1", p)
	}
	ping := wire.AppendPing(nil, []byte{7, 8})
	if _, err := c.nc.Write(append(wsClientFrame(false, ws.OpBinary, ping[:6], 0), wsClientFrame(true, ws.OpContinuation, ping[6:], 0)...)); err != nil {
		t.Fatal(err)
	}
	if f := c.read(); f.Type != wire.TypePong || string(f.Ping) != "\x07\x08" {
		t.Fatalf("got %s %x", f.Type, f.Ping)
	}
}

func TestWS_BadFramingGetsErrorAndCloseBeforeThePayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxPayload = 1024 })
	n := e.start()
	unmasked := []byte{0x82, 5, byte(wire.TypePing), 0, 0, 0, 0}
	cases := []struct {
		name   string
		send   []byte // WebSocket bytes, or with bare a Tether frame sent as one message
		code   wire.Code
		status ws.StatusCode
		bare   bool
	}{
		// Only the header of a 1 MiB message is sent: the refusal cannot
		// have waited for its payload.
		{"oversized header only", wsClientFrame(true, ws.OpBinary, nil, 1<<20), wire.CodeFrameTooLarge, wsStatusTooBig, false},
		{"fragments over the limit", append(wsClientFrame(false, ws.OpBinary, make([]byte, 1000), 0),
			wsClientFrame(true, ws.OpContinuation, nil, 100)...), wire.CodeFrameTooLarge, wsStatusTooBig, false},
		{"unmasked", unmasked, wire.CodeBadFrame, wsStatusProtocol, false},
		{"reserved bits", append([]byte{0xC2}, wsClientFrame(true, ws.OpBinary, []byte{1}, 0)[1:]...), wire.CodeBadFrame, wsStatusProtocol, false},
		{"reserved opcode", wsClientFrame(true, 0x3, []byte{1}, 0), wire.CodeBadFrame, wsStatusProtocol, false},
		{"continuation first", wsClientFrame(true, ws.OpContinuation, []byte{1}, 0), wire.CodeBadFrame, wsStatusProtocol, false},
		{"fragmented control", wsClientFrame(false, ws.OpPing, nil, 0), wire.CodeBadFrame, wsStatusProtocol, false},
		{"two frames in one message", append(wire.AppendPing(nil, nil), wire.AppendPing(nil, nil)...), wire.CodeBadFrame, wsStatusTether + ws.StatusCode(wire.CodeBadFrame), true},
		{"message shorter than a header", []byte{byte(wire.TypePing), 0}, wire.CodeBadFrame, wsStatusTether + ws.StatusCode(wire.CodeBadFrame), true},
		{"server frame type", wire.AppendWelcome(nil, wire.Welcome{}), wire.CodeUnexpectedFrame, wsStatusTether + ws.StatusCode(wire.CodeUnexpectedFrame), true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.on(overWS).dial()
			c.t = t
			c.hello(e, int64(10+i), "d")
			b := tc.send
			if tc.bare {
				b = wsClientFrame(true, ws.OpBinary, b, 0)
			}
			if _, err := c.nc.Write(b); err != nil {
				t.Fatal(err)
			}
			c.expectReason(wire.TypeError, tc.code)
			c.expectClosed()
			if s := c.wsStatus(); s != tc.status {
				t.Fatalf("close status %d, want %d", s, tc.status)
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 0 }, "sessions gone")
}

func TestWS_CloseFrameAnsweredAndSessionEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	c := e.on(overWS).dial()
	c.hello(e, 5, "d")
	if _, err := c.nc.Write(wsClientFrame(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), 0)); err != nil {
		t.Fatal(err)
	}
	c.expectReason(wire.TypeClose, wire.CodeNormal)
	c.expectClosed()
	if s := c.wsStatus(); s != wsStatusNormal {
		t.Fatalf("close status %d, want 1000", s)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 0 }, "session gone")
}

func TestWS_ControlPingAnsweredButDoesNotKeepConnectionAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.IdleTimeout = 400 * time.Millisecond })
	e.start()
	c := e.on(overWS).dial()
	c.hello(e, 6, "d")
	var pinging atomic.Bool
	pinging.Store(true)
	go func() {
		defer pinging.Store(false)
		for i := 0; i < 100; i++ { // 5s of pings, far past the idle timeout
			if _, err := c.nc.Write(wsClientFrame(true, ws.OpPing, []byte("k"), 0)); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	c.expectReason(wire.TypeError, wire.CodeIdleTimeout)
	if !pinging.Load() {
		t.Fatal("closed only after the pings stopped: pings kept the connection alive")
	}
	c.expectClosed()
	if p := c.wsPong; p != "k" {
		t.Fatalf("pings not answered: %v", p)
	}
	if s := c.wsStatus(); s != wsStatusTether+ws.StatusCode(wire.CodeIdleTimeout) {
		t.Fatalf("close status %d", s)
	}
}

func TestWS_SameUserOverTCPAndWebSocketGetsEveryMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	tcp, _ := e.on(overTCP).connect(7, "phone")
	web, _ := e.on(overWS).connect(7, "browser")
	e.push(msgJob("a", jobTarget(7, 1)), msgJob("b", jobTarget(7, 2)), msgJob("c", jobTarget(7, 3)))
	for _, c := range []*tclient{tcp, web} {
		if ms := c.messages(3); versions(ms) != "1,2,3," {
			t.Fatalf("got %s", versions(ms))
		}
	}
}

func TestWS_NodeWithoutWSAddrHasNoWebSocketListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.WSAddr = "" })
	n := e.start()
	if n.WSAddr() != nil {
		t.Fatalf("WSAddr = %v", n.WSAddr())
	}
	e.connect(1, "d")
}
