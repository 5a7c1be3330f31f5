package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestHeartbeat_RoundTripAndLimits(t *testing.T) {
	for _, h := range []Heartbeat{{}, {Ack: 42}, {Ack: 9, PushAcks: []string{"p1", "p_0a1b"}}} {
		b := AppendHeartbeat(nil, h)
		f, n, err := Decode(b, DefaultMaxPayload)
		if err != nil || n != len(b) || f.Type != TypeHeartbeat || f.Heartbeat.Ack != h.Ack ||
			!slices.Equal(f.Heartbeat.PushAcks, h.PushAcks) || f.Type.String() != "heartbeat" {
			t.Fatalf("%+v: decoded %+v n=%d err=%v", h, f, n, err)
		}
	}
	// More ids than a frame holds are left for the next one; long ids are cut.
	many := make([]string, MaxHeartbeatPushAcks+10)
	for i := range many {
		many[i] = strings.Repeat("x", 70)
	}
	f, _, err := Decode(AppendHeartbeat(nil, Heartbeat{PushAcks: many}), DefaultMaxPayload)
	if err != nil || len(f.Heartbeat.PushAcks) != MaxHeartbeatPushAcks || len(f.Heartbeat.PushAcks[0]) != 64 {
		t.Fatalf("over-long heartbeat: %d ids, err %v", len(f.Heartbeat.PushAcks), err)
	}
	bad := map[string][]byte{
		"count over the ids": {byte(TypeHeartbeat), 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 'p', '1'},
		"trailing byte":      {byte(TypeHeartbeat), 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0},
		"65-byte id":         append([]byte{byte(TypeHeartbeat), 0, 0, 0, 75, 0, 0, 0, 0, 0, 0, 0, 1, 1, 65}, []byte(strings.Repeat("x", 65))...),
		"no count":           {byte(TypeHeartbeat), 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	for name, b := range bad {
		if _, _, err := Decode(b, DefaultMaxPayload); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
