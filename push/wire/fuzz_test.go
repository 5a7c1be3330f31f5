package wire

import (
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder. It must never panic, never
// claim more bytes than it was given, and anything it accepts must re-encode
// to the same bytes. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(AppendHello(nil, Hello{Version: 1, LastVersion: 3, Token: "abc", Platform: "web", DeviceID: "d", AppVersion: "1"}))
	f.Add(AppendMessage(nil, 5, []byte(`{"kind":"message"}`)))
	f.Add(AppendAck(nil, 5))
	f.Add(AppendPing(nil, []byte{1}))
	f.Add(AppendClose(nil, CodeNormal, "bye"))
	f.Add(AppendKick(nil, CodeReplaced, "x"))
	f.Add(AppendReconnect(nil, 1000))
	f.Add(AppendSync(nil, 42))
	f.Add(AppendSignal(nil, Signal{Peer: 2, Kind: "typing", Data: []byte("{}")}))
	f.Add(AppendPush(nil, Push{ID: "p", Body: []byte("{}")}))
	f.Add(AppendHeartbeat(nil, Heartbeat{Ack: 7, PushAcks: []string{"p1", "p2"}}))
	f.Add(AppendPushAck(nil, "p_0a1b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := Decode(b, 4096)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n > len(b) || n < HeaderSize {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		re := reencode(fr)
		if re == nil {
			return
		}
		if string(re) != string(b[:n]) {
			t.Fatalf("re-encode mismatch\n in % x\nout % x", b[:n], re)
		}
		if _, _, err := Decode(re, 4096); errors.Is(err, ErrMalformed) {
			t.Fatalf("re-encoded frame is malformed")
		}
	})
}

func reencode(f Frame) []byte {
	switch f.Type {
	case TypeHello:
		return AppendHello(nil, f.Hello)
	case TypeWelcome:
		return AppendWelcome(nil, f.Welcome)
	case TypePing:
		return AppendPing(nil, f.Ping)
	case TypePong:
		return AppendPong(nil, f.Ping)
	case TypeMessage:
		return AppendMessage(nil, f.Message.Version, f.Message.Body)
	case TypeAck:
		return AppendAck(nil, f.Ack)
	case TypeError:
		if len(f.Reason.Text) > 1024 {
			return nil
		}
		return AppendError(nil, f.Reason.Code, f.Reason.Text)
	case TypeClose, TypeKick:
		if len(f.Reason.Text) > 1024 {
			return nil
		}
		if f.Type == TypeKick {
			return AppendKick(nil, f.Reason.Code, f.Reason.Text)
		}
		return AppendClose(nil, f.Reason.Code, f.Reason.Text)
	case TypeReconnect:
		return AppendReconnect(nil, f.Window)
	case TypeSync:
		return AppendSync(nil, f.Current)
	case TypeSignal:
		return AppendSignal(nil, f.Signal)
	case TypePush:
		return AppendPush(nil, f.Push)
	case TypePushAck:
		return AppendPushAck(nil, f.PushAck)
	case TypeHeartbeat:
		return AppendHeartbeat(nil, f.Heartbeat)
	}
	return nil
}
