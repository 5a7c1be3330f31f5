package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip_EveryFrameType(t *testing.T) {
	cases := []struct {
		buf  []byte
		want Frame
	}{
		{AppendHello(nil, Hello{Version: 1, LastVersion: 7, Token: "tok", Platform: "ios", DeviceID: "d1", AppVersion: "1.2"}),
			Frame{Type: TypeHello, Hello: Hello{Version: 1, LastVersion: 7, Token: "tok", Platform: "ios", DeviceID: "d1", AppVersion: "1.2"}}},
		{AppendWelcome(nil, Welcome{Version: 1, Flags: FlagVersionUnknown, CurrentVersion: 9, HeartbeatMS: 30000, MaxPayload: 65536, SessionID: "n1-5"}),
			Frame{Type: TypeWelcome, Welcome: Welcome{Version: 1, Flags: 1, CurrentVersion: 9, HeartbeatMS: 30000, MaxPayload: 65536, SessionID: "n1-5"}}},
		{AppendPing(nil, []byte{1, 2}), Frame{Type: TypePing, Ping: []byte{1, 2}}},
		{AppendPong(nil, []byte{1, 2}), Frame{Type: TypePong, Ping: []byte{1, 2}}},
		{AppendMessage(nil, 42, []byte(`{"kind":"message"}`)), Frame{Type: TypeMessage, Message: Message{Version: 42, Body: []byte(`{"kind":"message"}`)}}},
		{AppendAck(nil, 41), Frame{Type: TypeAck, Ack: 41}},
		{AppendError(nil, CodeUnauthorized, "bad token"), Frame{Type: TypeError, Reason: Reason{CodeUnauthorized, "bad token"}}},
		{AppendClose(nil, CodeShuttingDown, "bye"), Frame{Type: TypeClose, Reason: Reason{CodeShuttingDown, "bye"}}},
		{AppendKick(nil, CodeReplaced, "new login on ios"), Frame{Type: TypeKick, Reason: Reason{CodeReplaced, "new login on ios"}}},
		{AppendReconnect(nil, 30000), Frame{Type: TypeReconnect, Window: 30000}},
		{AppendSync(nil, 43), Frame{Type: TypeSync, Current: 43}},
		{AppendSignal(nil, Signal{Peer: 7, Kind: "typing", Data: []byte(`{"on":true}`)}), Frame{Type: TypeSignal, Signal: Signal{Peer: 7, Kind: "typing", Data: []byte(`{"on":true}`)}}},
		{AppendPush(nil, Push{ID: "p1", Body: []byte(`{"a":1}`)}), Frame{Type: TypePush, Push: Push{ID: "p1", Body: []byte(`{"a":1}`)}}},
	}
	for _, c := range cases {
		got, n, err := Decode(c.buf, DefaultMaxPayload)
		if err != nil || n != len(c.buf) {
			t.Fatalf("%v: n=%d err=%v", c.want.Type, n, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%v: got %+v want %+v", c.want.Type, got, c.want)
		}
		// Every strict prefix must ask for more bytes, never decode or fail.
		for i := 0; i < len(c.buf); i++ {
			if _, _, err := Decode(c.buf[:i], DefaultMaxPayload); !errors.Is(err, ErrShort) {
				t.Fatalf("%v prefix %d: %v", c.want.Type, i, err)
			}
		}
	}
}

func TestDecode_ByteExampleFromProtocolDoc(t *testing.T) {
	// The Ack example in PROTOCOL.md: ack everything up to version 258.
	want := []byte{0x06, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2}
	if got := AppendAck(nil, 258); !bytes.Equal(got, want) {
		t.Fatalf("ack bytes % x", got)
	}
}

func TestDecode_RejectsOversizedUnknownAndMalformed(t *testing.T) {
	oversized := AppendMessage(nil, 1, make([]byte, 100))
	if _, _, err := Decode(oversized, 50); !errors.Is(err, ErrTooLarge) || CodeOf(err) != CodeFrameTooLarge {
		t.Fatalf("oversized: %v", err)
	}
	// The limit is checked on the header alone, before the payload arrives.
	if _, _, err := Decode(oversized[:HeaderSize], 50); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized header: %v", err)
	}
	if _, _, err := Decode([]byte{0x7f, 0, 0, 0, 0}, 50); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown: %v", err)
	}
	// Ack with 7 payload bytes instead of 8.
	if _, _, err := Decode([]byte{0x06, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1}, 50); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short ack: %v", err)
	}
	// Ack with trailing garbage.
	if _, _, err := Decode([]byte{0x06, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 9}, 50); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long ack: %v", err)
	}
	// Sync with 7 payload bytes instead of 8.
	if _, _, err := Decode([]byte{0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 1}, 50); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short sync: %v", err)
	}
	// Hello whose token length runs past the payload.
	if _, _, err := Decode([]byte{0x01, 0, 0, 0, 11, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 50); !errors.Is(err, ErrMalformed) {
		t.Fatalf("hello overrun: %v", err)
	}
	// Signal data over the limit.
	big := AppendSignal(nil, Signal{Peer: 1, Kind: "typing", Data: make([]byte, MaxSignalData+1)})
	if _, _, err := Decode(big, 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("big signal: %v", err)
	}
	// Invalid UTF-8 in a string.
	bad := AppendHello(nil, Hello{Version: 1, Token: "t", Platform: "\xff"})
	if _, _, err := Decode(bad, 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad utf8: %v", err)
	}
}
