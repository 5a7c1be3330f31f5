package tether

import "context"

// MaxPresenceUsers is how many users one presence query may ask about.
const MaxPresenceUsers = 200

// Presence is a user's online status as the caller may see it.
type Presence struct {
	UserID  int64    `json:"user_id"`
	Online  bool     `json:"online"`  // some device has a live push connection
	Devices []Device `json:"devices"` // those devices, by device id; empty when offline
}

// PresenceService reports who is online, from the push routing registry.
type PresenceService interface {
	// Presence returns the presence of each of userIDs (1 to
	// MaxPresenceUsers, else EINVALID), in request order. Unknown users,
	// and users who blocked the caller, appear offline.
	Presence(ctx context.Context, caller Caller, userIDs []int64) ([]Presence, error)
}

// PresenceSource reads live devices of many users at once, as user id ->
// device id -> platform (users with none absent). Implemented by
// route.Registry.
type PresenceSource interface {
	OnlineDevicesOf(ctx context.Context, userIDs []int64) (map[int64]map[string]string, error)
}
