package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/tetherim/tether/push/wire"
)

// wsServer accepts one WebSocket connection on loopback and hands it to serve.
func wsServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := (ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == wsSubprotocol }}).Upgrade(nc); err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		serve(nc)
	}()
	return "ws://" + ln.Addr().String() + "/ws"
}

func TestWSTransport_FramesAreBinaryMessagesAndPingsAreAnswered(t *testing.T) {
	got := make(chan []byte, 4)
	addr := wsServer(t, func(nc net.Conn) {
		// One frame split over two fragments with a ping in between, then
		// another frame: the client must read the byte stream of both.
		a := wire.AppendPing(nil, []byte{1, 2})
		b := wire.AppendAck(nil, 9)
		_ = ws.WriteFrame(nc, ws.Frame{Header: ws.Header{Fin: false, OpCode: ws.OpBinary, Length: 3}, Payload: a[:3]})
		_ = ws.WriteFrame(nc, ws.NewPingFrame([]byte("hi")))
		_ = ws.WriteFrame(nc, ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: int64(len(a) - 3)}, Payload: a[3:]})
		_ = ws.WriteFrame(nc, ws.NewBinaryFrame(b))
		for i := 0; i < 2; i++ { // the pong, then the client's frame
			f, err := ws.ReadFrame(nc)
			if err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			if !f.Header.Masked {
				t.Errorf("client frame not masked")
			}
			f = ws.UnmaskFrameInPlace(f)
			got <- append([]byte{byte(f.Header.OpCode)}, f.Payload...)
		}
		_ = ws.WriteFrame(nc, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	})
	nc, err := dialTransport(context.Background(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	fr := &frameReader{r: bufio.NewReader(nc), max: 1 << 20}
	for _, want := range []wire.Type{wire.TypePing, wire.TypeAck} {
		f, err := fr.read()
		if err != nil || f.Type != want {
			t.Fatalf("read %s: %v %v", want, f.Type, err)
		}
	}
	hello := wire.AppendHello(nil, wire.Hello{Version: 1, Token: "t"})
	if _, err := nc.Write(hello); err != nil {
		t.Fatal(err)
	}
	if m := <-got; ws.OpCode(m[0]) != ws.OpPong || string(m[1:]) != "hi" {
		t.Fatalf("server got op %v %q, want the pong", ws.OpCode(m[0]), m[1:])
	}
	if m := <-got; ws.OpCode(m[0]) != ws.OpBinary || string(m[1:]) != string(hello) {
		t.Fatalf("server got op %v % x, want one binary message with the hello", ws.OpCode(m[0]), m[1:])
	}
	if _, err := fr.read(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the server's close: %v, want EOF", err)
	}
}

func TestWSTransport_TextMessageIsAnError(t *testing.T) {
	addr := wsServer(t, func(nc net.Conn) {
		_ = ws.WriteFrame(nc, ws.NewTextFrame([]byte("no")))
		time.Sleep(200 * time.Millisecond)
	})
	nc, err := dialTransport(context.Background(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 8)); !errors.Is(err, errWSText) {
		t.Fatalf("got %v, want errWSText", err)
	}
}
