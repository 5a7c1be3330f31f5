package tether

import (
	"context"
	"slices"
	"strings"
	"time"
)

// MaxDeviceIDLen is the longest device id a client may declare.
const MaxDeviceIDLen = 64

// MaxAppVersionLen bounds a declared app version.
const MaxAppVersionLen = 64

// Platforms a device may declare.
var Platforms = []string{"ios", "android", "web", "desktop", "server", "other"}

// Device identifies the client a login session belongs to.
type Device struct {
	ID       string `json:"device_id"`
	Platform string `json:"platform"`
	// AppVersion is the client's app version, optional (login only): access
	// tokens carry it for the live switches' version rules.
	AppVersion string `json:"app_version,omitempty"`
}

// Normalize checks a device and returns it with its platform lowercased;
// an empty platform means "other".
func (d Device) Normalize() (Device, error) {
	if d.ID == "" || !Printable(d.ID, MaxDeviceIDLen) {
		return d, Errorf(EINVALID, "device_id must be 1 to %d printable characters", MaxDeviceIDLen)
	}
	if d.Platform == "" {
		d.Platform = "other"
	}
	if d.AppVersion != "" && !Printable(d.AppVersion, MaxAppVersionLen) {
		return d, Errorf(EINVALID, "app_version must be at most %d printable characters", MaxAppVersionLen)
	}
	d.Platform = strings.ToLower(d.Platform)
	if !slices.Contains(Platforms, d.Platform) {
		return d, Errorf(EINVALID, "platform must be one of %s", strings.Join(Platforms, ", "))
	}
	return d, nil
}

// SessionService manages the caller's own login sessions.
type SessionService interface {
	// Logout revokes the caller's login session: its refresh token stops
	// working and its access tokens are refused by push nodes. Idempotent.
	Logout(ctx context.Context, caller Caller) error
	// Devices lists the caller's live login sessions (not revoked, not
	// expired), newest first.
	Devices(ctx context.Context, caller Caller) ([]DeviceSession, error)
	// RevokeDevice revokes one of the caller's login sessions like Logout.
	// ENOTFOUND if it is not one of the caller's live sessions.
	RevokeDevice(ctx context.Context, caller Caller, sessionID string) error
	// ChangePassword checks the old password, sets the new one and revokes
	// every other session of the caller; the caller's own session stays.
	// EFORBIDDEN for a wrong old password, EINVALID for a bad new one.
	ChangePassword(ctx context.Context, caller Caller, oldPassword, newPassword string) error
}

// DeviceSession is one of a user's login sessions, as GET /v1/devices lists it.
type DeviceSession struct {
	SessionID  string    `json:"session_id"`
	DeviceID   string    `json:"device_id"`
	Platform   string    `json:"platform"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"` // the last login or refresh
	Current    bool      `json:"current"`      // the session of the caller's access token
	Online     bool      `json:"online"`       // the device has a live push connection on this platform
}

// SessionRevoker tells the push side that a login session was revoked: its
// access tokens are refused at the next handshake and its live connections
// on deviceID and platform are kicked. Implemented by route.Revoker.
type SessionRevoker interface {
	Revoke(ctx context.Context, userID int64, sessionID, deviceID, platform string) error
}

// OnlineDevices reports a user's devices with a live push connection, as
// device id -> platform (from the push routing registry). Implemented by
// route.Revoker.
type OnlineDevices interface {
	OnlineDevices(ctx context.Context, userID int64) (map[string]string, error)
}
