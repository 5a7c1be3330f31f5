package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// onlyHeartbeats fails if the client sent a version 1 ack, push ack or ping
// on a version 2 connection.
func onlyHeartbeats(t *testing.T, fc *fakeConn) {
	t.Helper()
	for _, ty := range []wire.Type{wire.TypeAck, wire.TypePushAck, wire.TypePing} {
		if n := fc.count(ty); n != 0 {
			t.Fatalf("%d %s frames on a version 2 connection, want none: heartbeats carry them", n, ty)
		}
	}
}

// A burst of entries far over AckBatch costs version 2 no ack frame of its
// own: the next heartbeat carries the ack, so the burst costs n frames plus
// the heartbeat exchange that happens anyway.
func TestClient_Version2_ABurstIsAckedByTheNextHeartbeatNotByAckFrames(t *testing.T) {
	h := start(t, nil) // AckBatch 64, AckInterval 200ms: version 1 would ack several times
	const n = 300
	h.api.grow(n)
	fc := h.push.next()
	fc.welcomeV(2, 0, 0, 1000)
	start := time.Now()
	vs := make([]uint64, n)
	for i := range vs {
		vs[i] = uint64(i + 1)
	}
	fc.push(vs...)
	h.delivered(n)
	h.rec.requireExactly(t, 1, n)
	h.eventually(func() bool {
		hb := fc.framesOf(wire.TypeHeartbeat)
		return len(hb) > 0 && hb[len(hb)-1].Heartbeat.Ack == n
	}, "a heartbeat acks %d", n)
	onlyHeartbeats(t, fc)
	// One heartbeat per interval, however many entries: never one per batch.
	if hb, most := fc.count(wire.TypeHeartbeat), int(time.Since(start)/time.Second)+1; hb > most {
		t.Fatalf("%d heartbeats in %s, want at most %d (one a second)", hb, time.Since(start), most)
	}
	if s := h.c.Stats(); s.AcksSent != 0 || s.Heartbeats != uint64(fc.count(wire.TypeHeartbeat)) {
		t.Fatalf("stats %+v", s)
	}
}

// Handled pushes are reported in the next heartbeat's push ids, each once,
// never in PushAck frames.
func TestClient_Version2_PushAcksRideTheNextHeartbeat(t *testing.T) {
	var mu sync.Mutex
	var handled []string
	h := start(t, func(c *Config) { c.OnPush = func(p Push) { mu.Lock(); handled = append(handled, p.ID); mu.Unlock() } })
	fc := h.push.next()
	fc.welcomeV(2, 0, 0, 300)
	var b []byte
	for _, id := range []string{"p1", "p2", "p3"} {
		b = wire.AppendPush(b, wire.Push{ID: id, Body: []byte(`{}`)})
	}
	fc.write(b)
	reported := func() []string {
		var ids []string
		for _, f := range fc.framesOf(wire.TypeHeartbeat) {
			ids = append(ids, f.Heartbeat.PushAcks...)
		}
		return ids
	}
	h.eventually(func() bool { return len(reported()) >= 3 }, "three push ids reported, got %v", lazy(func() any { return reported() }))
	if got := reported(); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Fatalf("reported %v, want p1 p2 p3 once each, in order", got)
	}
	onlyHeartbeats(t, fc)
	if s := h.c.Stats(); s.PushAcksSent != 3 {
		t.Fatalf("PushAcksSent = %d, want 3", s.PushAcksSent)
	}
}

// Leaving on purpose, a version 2 client reports in one last heartbeat what
// its next heartbeat would have carried, then says Close(normal).
func TestClient_Version2_GoodbyeSendsALastHeartbeatWithWhatIsUnreported(t *testing.T) {
	h := start(t, func(c *Config) { c.OnPush = func(Push) {} })
	h.api.grow(2)
	fc := h.push.next()
	fc.welcomeV(2, 0, 0, 3_600_000) // no heartbeat falls due during the test
	fc.push(1, 2)
	fc.write(wire.AppendPush(nil, wire.Push{ID: "p9", Body: []byte(`{}`)}))
	h.delivered(2)
	h.eventually(func() bool { return h.c.Stats().PushesRecv == 1 }, "push handled")
	h.cancel()
	if err := h.runErr(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	<-fc.done
	hb := fc.framesOf(wire.TypeHeartbeat)
	if len(hb) != 1 || hb[0].Heartbeat.Ack != 2 || !slices.Equal(hb[0].Heartbeat.PushAcks, []string{"p9"}) {
		t.Fatalf("heartbeats %+v, want one last heartbeat: ack 2, push p9", hb)
	}
	onlyHeartbeats(t, fc)
	if closes := fc.framesOf(wire.TypeClose); len(closes) != 1 || closes[0].Reason.Code != wire.CodeNormal {
		t.Fatalf("close frames %v, want one Close(normal)", closes)
	}
}

// A connection that dies before any heartbeat acked anything loses
// nothing: entries it never received (lost in flight) come back by the
// sync after the reconnect, from the client's own last version, and the
// entries it had are not delivered twice. Nothing waits for the server to
// have recorded an ack.
func TestClient_Version2_EntriesNeverAckedAtADisconnectComeBackBySync(t *testing.T) {
	h := start(t, nil)
	h.api.grow(5)
	fc := h.push.next()
	fc.welcomeV(2, 0, 0, 3_600_000)
	fc.push(1, 2, 3) // 4 and 5 are committed but lost with the connection
	h.delivered(3)
	fc.nc.Close() // dies without a goodbye: no heartbeat ever acked 1..3
	fc2 := h.push.next()
	if fc2.hello.LastVersion != 3 {
		t.Fatalf("reconnect hello.LastVersion = %d, want 3 (the client's own last, not an acked version)", fc2.hello.LastVersion)
	}
	if n := len(fc.framesOf(wire.TypeHeartbeat)); n != 0 {
		t.Fatalf("%d heartbeats on the first connection, want none", n)
	}
	fc2.welcomeV(2, 5, 0, 3_600_000)
	h.delivered(5)
	h.rec.requireExactly(t, 1, 5)
	if _, _, syncs := h.api.counts(); !slices.Contains(syncs, 3) {
		t.Fatalf("syncs since %v, want one since 3", syncs)
	}
}
