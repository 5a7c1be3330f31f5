package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestPushAck_RoundTripAndLimits(t *testing.T) {
	b := AppendPushAck(nil, "p_0a1b")
	f, n, err := Decode(b, DefaultMaxPayload)
	if err != nil || n != len(b) || f.Type != TypePushAck || f.PushAck != "p_0a1b" || f.Type.String() != "push_ack" {
		t.Fatalf("decoded %+v n=%d err=%v", f, n, err)
	}
	if got := AppendPushAck(nil, strings.Repeat("x", 70)); len(got) != HeaderSize+1+64 {
		t.Fatalf("long id not cut: %d bytes", len(got))
	}
	// A length byte over 64, or bytes after the id, are malformed.
	long := append([]byte{byte(TypePushAck), 0, 0, 0, 66, 65}, []byte(strings.Repeat("x", 65))...)
	if _, _, err := Decode(long, DefaultMaxPayload); !errors.Is(err, ErrMalformed) {
		t.Fatalf("65-byte id: %v", err)
	}
	if _, _, err := Decode([]byte{byte(TypePushAck), 0, 0, 0, 3, 1, 'p', 'x'}, DefaultMaxPayload); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}
