package switches

import (
	"time"

	"github.com/tetherim/tether"
)

// The names of the switches. Code reads a switch through its constant, never
// a string literal, so a rename is a compile error.
const (
	// Degradation of the non-core businesses (issue 11 part 4). Chat send,
	// sync and push delivery have no switch on purpose: they are never
	// turned off.
	Presence         = "presence"
	Signals          = "signals"
	ReadReceipts     = "read_receipts"
	Broadcast        = "broadcast"
	Webhook          = "webhook"
	PushAPI          = "push_api"
	GroupFanoutLimit = "group_fanout_max_members"
	HistoryPageLimit = "history_page_max"
	ReloadInterval   = "switches.reload_interval"

	// HeartbeatAcks releases protocol version 2 (acks and push acks on
	// heartbeats, push/PROTOCOL.md) to the sessions its rules select: a
	// node grants version 2 only to a Hello that offers it and is selected.
	HeartbeatAcks = "heartbeat_acks"
)

// Catalogue is the one list of switches: every switch a process knows, with
// its kind, default and description. Add a switch here (and its constant
// above); nothing else needs to change for it to be listed, set, stored,
// propagated and exported as metrics.
var Catalogue = []Def{
	{Name: Presence, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "Presence: online state answers and pushes. Off degrades presence for the users the rules select."},
	{Name: Signals, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "Signals (typing and other transient client-to-client frames)."},
	{Name: ReadReceipts, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "Read receipts: read marks pushed to the other participants."},
	{Name: Broadcast, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "Broadcast pushes through the push API (POST /v1/push/broadcast)."},
	{Name: Webhook, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "Offline notifications POSTed to the operator's webhook."},
	{Name: PushAPI, Kind: KindBool, Default: On(true), Scope: AdminScope,
		Description: "The push API for third-party services (POST /v1/push, /v1/push/batch)."},
	{Name: GroupFanoutLimit, Kind: KindInt, Default: 0, Scope: AdminScope,
		Description: "Group sends fan out live only to groups of at most this many members; 0 means no limit."},
	{Name: HistoryPageLimit, Kind: KindInt, Default: 0, Scope: AdminScope,
		Description: "The largest page of history a read returns; 0 means the API's own maximum."},
	{Name: HeartbeatAcks, Kind: KindBool, Default: On(false), Scope: AdminScope,
		Description: "Protocol version 2 for the push sessions the rules select (user, platform, app version, node): acks ride on heartbeats instead of Ack and PushAck frames. Clients that do not offer version 2 are served version 1 either way."},
	{Name: ReloadInterval, Kind: KindDuration, Default: Dur(3 * time.Second), Scope: AdminScope,
		Description: "How often every process reloads the switches as the fallback to their Redis channel."},
}

// AdminScope is the API-key scope that may change the switches of the catalogue.
const AdminScope = tether.ScopeAdmin
