package push

import (
	"github.com/gobwas/ws"

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/shared/route"
)

// What a connection's state and the node's unflushed acks look like on the
// handoff socket (internal/handoff), and back.

// saveWS copies w; the caller holds conn.wmu and no OnRequest runs.
func saveWS(w *wsConn) *handoff.WSState {
	if w == nil {
		return nil
	}
	return &handoff.WSState{
		Upgraded: w.upgraded, Frag: w.frag, Open: w.open, Responded: w.responded, CloseSent: w.closeSent,
		Req: w.req, Msg: w.msg, Status: uint16(w.status), Final: uint16(w.final),
	}
}

// restoreWS is saveWS undone in the new process.
func restoreWS(s *handoff.WSState) *wsConn {
	if s == nil {
		return nil
	}
	return &wsConn{
		upgraded: s.Upgraded, frag: s.Frag, open: s.Open, responded: s.Responded, closeSent: s.CloseSent,
		req: s.Req, msg: s.Msg, status: ws.StatusCode(s.Status), final: ws.StatusCode(s.Final),
	}
}

func ackOf(k ackKey, v uint64) route.Ack {
	return route.Ack{UserID: k.uid, DeviceID: k.device, Version: v}
}

func ackMap(acks []route.Ack) map[ackKey]uint64 {
	m := make(map[ackKey]uint64, len(acks))
	for _, a := range acks {
		m[ackKey{a.UserID, a.DeviceID}] = a.Version
	}
	return m
}
