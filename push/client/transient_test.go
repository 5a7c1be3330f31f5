package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

func TestClient_PushesAndSignalsReachTheirCallbacksAndLeaveTheTimelineAlone(t *testing.T) {
	var mu sync.Mutex
	var pushes []Push
	var signals []Signal
	h := start(t, func(c *Config) {
		c.OnPush = func(p Push) { mu.Lock(); pushes = append(pushes, p); mu.Unlock() }
		c.OnSignal = func(s Signal) { mu.Lock(); signals = append(signals, s); mu.Unlock() }
	})
	h.api.grow(1)
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	var b []byte
	b = wire.AppendPush(b, wire.Push{ID: "p1", Body: []byte(`{"title":"hi"}`)})
	b = wire.AppendSignal(b, wire.Signal{Peer: 42, Kind: "typing", Data: []byte("c1")})
	b = wire.AppendMessage(b, 1, pushBody(1))
	fc.write(b)
	h.delivered(1)
	h.eventually(func() bool { mu.Lock(); defer mu.Unlock(); return len(pushes) == 1 && len(signals) == 1 }, "callbacks called")
	mu.Lock()
	defer mu.Unlock()
	if pushes[0].ID != "p1" || string(pushes[0].Body) != `{"title":"hi"}` {
		t.Fatalf("push = %+v", pushes[0])
	}
	if s := signals[0]; s.From != 42 || s.Kind != "typing" || string(s.Data) != "c1" {
		t.Fatalf("signal = %+v", s)
	}
	if st := h.c.Stats(); st.PushesRecv != 1 || st.SignalsRecv != 1 || h.c.LastVersion() != 1 {
		t.Fatalf("stats %+v, last version %d", st, h.c.LastVersion())
	}
}

func TestClient_SendSignalWritesASignalFrameOnlyWhileConnected(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	if err := h.c.SendSignal(ctx, 2, "typing", nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SendSignal before connecting = %v, want ErrNotConnected", err)
	}
	fc := h.push.next()
	fc.welcome(0, 0, 1000)
	h.eventually(func() bool { return h.c.SendSignal(ctx, 2, "typing", []byte(`{"c":1}`)) == nil }, "SendSignal once connected")
	h.eventually(func() bool { return fc.count(wire.TypeSignal) == 1 }, "signal frame at the server")
	if f := fc.framesOf(wire.TypeSignal)[0].Signal; f.Peer != 2 || f.Kind != "typing" || string(f.Data) != `{"c":1}` {
		t.Fatalf("signal frame = %+v", f)
	}
	for _, bad := range []struct {
		to   int64
		kind string
		data []byte
	}{
		{0, "typing", nil},
		{2, "", nil},
		{2, "Typing", nil},
		{2, strings.Repeat("k", 33), nil},
		{2, "typing", make([]byte, wire.MaxSignalData+1)},
	} {
		if err := h.c.SendSignal(ctx, bad.to, bad.kind, bad.data); err == nil || errors.Is(err, ErrNotConnected) {
			t.Fatalf("SendSignal(%d, %q, %d bytes) = %v, want a validation error", bad.to, bad.kind, len(bad.data), err)
		}
	}
	fc.end(wire.TypeClose, wire.CodeShuttingDown)
	h.eventually(func() bool { return errors.Is(h.c.SendSignal(ctx, 2, "typing", nil), ErrNotConnected) }, "SendSignal after the connection ended")
	time.Sleep(10 * time.Millisecond)
	if n := fc.count(wire.TypeSignal); n != 1 {
		t.Fatalf("server saw %d signals, want 1", n)
	}
}
