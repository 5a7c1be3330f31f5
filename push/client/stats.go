package client

import "sync/atomic"

// Stats are a Client's counters since New. Frames are counted by direction
// and type so a benchmark can report client-to-server frames per delivered
// message.
type Stats struct {
	FramesSent    uint64 // all client-to-server frames
	HellosSent    uint64
	PingsSent     uint64
	AcksSent      uint64
	ClosesSent    uint64
	FramesRecv    uint64 // all server-to-client frames
	PongsRecv     uint64
	MessagesRecv  uint64 // Message frames, duplicates included
	Delivered     uint64 // entries handed to the Handler
	Duplicates    uint64 // entries dropped because they were already delivered or held
	GapsSynced    uint64 // syncs triggered by a gap in the push stream
	Syncs         uint64 // syncs of any cause (handshake, gap)
	SyncPages     uint64 // REST sync pages fetched
	Connects      uint64 // successful handshakes
	Reconnects    uint64 // successful handshakes after the first
	DialFailures  uint64 // dials or handshakes that failed
	DeadConns     uint64 // connections declared dead for lack of any frame
	TokenRefresh  uint64 // refreshes of the access token
	Logins        uint64 // password logins
	BadPushBodies uint64 // pushed entries whose body did not decode (fetched by sync instead)
	PushesRecv    uint64 // transient Push frames (broadcasts and pushes)
	SignalsRecv   uint64 // Signal frames from peers
	SignalsSent   uint64 // Signal frames written
	PushAcksSent  uint64 // pushes reported handled: PushAck frames (version 1) or push ids in Heartbeats (version 2)
	Heartbeats    uint64 // Heartbeat frames written (version 2: they replace pings, acks and push acks)
}

type counters struct {
	framesSent, hellos, pings, acks, closes         atomic.Uint64
	framesRecv, pongs, messages                     atomic.Uint64
	delivered, duplicates, gapsSynced, syncs, pages atomic.Uint64
	connects, reconnects, dialFailures, dead        atomic.Uint64
	refreshes, logins, badBodies                    atomic.Uint64
	pushes, signals, signalsSent                    atomic.Uint64
	pushAcks, heartbeats                            atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		FramesSent:    c.framesSent.Load(),
		HellosSent:    c.hellos.Load(),
		PingsSent:     c.pings.Load(),
		AcksSent:      c.acks.Load(),
		ClosesSent:    c.closes.Load(),
		FramesRecv:    c.framesRecv.Load(),
		PongsRecv:     c.pongs.Load(),
		MessagesRecv:  c.messages.Load(),
		Delivered:     c.delivered.Load(),
		Duplicates:    c.duplicates.Load(),
		GapsSynced:    c.gapsSynced.Load(),
		Syncs:         c.syncs.Load(),
		SyncPages:     c.pages.Load(),
		Connects:      c.connects.Load(),
		Reconnects:    c.reconnects.Load(),
		DialFailures:  c.dialFailures.Load(),
		DeadConns:     c.dead.Load(),
		TokenRefresh:  c.refreshes.Load(),
		Logins:        c.logins.Load(),
		BadPushBodies: c.badBodies.Load(),
		PushesRecv:    c.pushes.Load(),
		SignalsRecv:   c.signals.Load(),
		SignalsSent:   c.signalsSent.Load(),
		PushAcksSent:  c.pushAcks.Load(),
		Heartbeats:    c.heartbeats.Load(),
	}
}
