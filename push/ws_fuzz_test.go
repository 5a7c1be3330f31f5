package push

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tetherim/tether/push/wire"
)

// FuzzWSInput sends arbitrary bytes on an upgraded WebSocket connection:
// whatever they are, the node must not panic, and must answer or close.
// Seeds: testdata/fuzz/FuzzWSInput and the frames below.
func FuzzWSInput(f *testing.F) {
	e := newEnv(f, func(c *Config) { c.HandshakeTimeout = time.Second; c.MaxPayload = 1024 })
	n := e.start()
	hello := wire.AppendHello(nil, wire.Hello{Version: 1, Token: e.token(1, "d"), DeviceID: "d"})
	f.Add(wsClientFrame(true, ws.OpBinary, hello, 0))
	f.Add(append(wsClientFrame(true, ws.OpBinary, hello, 0), wsClientFrame(true, ws.OpBinary, wire.AppendPing(nil, []byte{1}), 0)...))
	f.Add(append(wsClientFrame(false, ws.OpBinary, hello[:4], 0), wsClientFrame(true, ws.OpContinuation, hello[4:], 0)...))
	f.Add(wsClientFrame(true, ws.OpText, []byte("hello"), 0))
	f.Add(wsClientFrame(true, ws.OpBinary, nil, 1<<40))
	f.Add(wsClientFrame(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""), 0))
	f.Add(wsClientFrame(true, ws.OpPing, []byte("p"), 0))
	f.Add([]byte{0x82, 0x05, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := dialWS(t, n)
		wsExchange(t, c.nc, data)
	})
}

// FuzzWSUpgrade sends arbitrary bytes to the WebSocket port before any
// upgrade: an HTTP error or a 101, never a panic.
func FuzzWSUpgrade(f *testing.F) {
	e := newEnv(f, func(c *Config) { c.HandshakeTimeout = time.Second })
	n := e.start()
	f.Add([]byte(upgradeRequest(WSPath)))
	f.Add([]byte(upgradeRequest("/x?y")))
	f.Add([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("GET /ws HTTP/1.0\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte{0x01, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.DialTimeout("tcp", n.WSAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wsExchange(t, nc, data)
	})
}

// wsExchange writes data and reads whatever comes back for a moment.
func wsExchange(t *testing.T, nc net.Conn, data []byte) {
	_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(data); err != nil {
		return // the node may close before reading everything
	}
	_ = nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = io.Copy(io.Discard, nc)
}
