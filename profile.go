package tether

import (
	"context"
	"encoding/json"
)

// Profile limits.
const (
	MaxDisplayNameLen    = 64      // characters
	MaxAvatarURLLen      = 512     // bytes
	MaxProfileAttributes = 4 << 10 // bytes of the attributes JSON object
)

// Profile is a user's public profile. Attributes is a custom JSON object,
// {} when never set.
type Profile struct {
	ID          int64           `json:"id"`
	Username    string          `json:"username"`
	DisplayName string          `json:"display_name"`
	AvatarURL   string          `json:"avatar_url"`
	Attributes  json.RawMessage `json:"attributes"`
}

// ProfileUpdate changes a profile; nil fields stay as they are. An empty
// string clears DisplayName or AvatarURL; Attributes replaces the whole object.
type ProfileUpdate struct {
	DisplayName *string
	AvatarURL   *string
	Attributes  json.RawMessage
}

// ProfileService reads and updates profiles.
type ProfileService interface {
	// Profile returns the public profile of a user. ENOTFOUND if there is none.
	Profile(ctx context.Context, userID int64) (*Profile, error)
	// UpdateProfile applies u to the profile of userID and returns the result.
	// EINVALID / ETOOLARGE for input over the limits.
	UpdateProfile(ctx context.Context, userID int64, u ProfileUpdate) (*Profile, error)
}

// Validate checks u against the limits and returns its attributes in
// canonical form (nil when u leaves them alone).
func (u ProfileUpdate) Validate() (json.RawMessage, error) {
	if u.DisplayName != nil && !Printable(*u.DisplayName, MaxDisplayNameLen) {
		return nil, Errorf(EINVALID, "display_name must be at most %d printable characters", MaxDisplayNameLen)
	}
	if u.AvatarURL != nil {
		if err := validateAvatarURL(*u.AvatarURL); err != nil {
			return nil, err
		}
	}
	if u.Attributes == nil {
		return nil, nil
	}
	return CanonicalObject("attributes", u.Attributes, MaxProfileAttributes)
}

// validateAvatarURL checks a profile's or group's avatar link; "" clears it.
func validateAvatarURL(a string) error {
	if a == "" {
		return nil
	}
	if len(a) > MaxAvatarURLLen {
		return Errorf(EINVALID, "avatar_url must be at most %d bytes", MaxAvatarURLLen)
	}
	if !webURL(a) {
		return Errorf(EINVALID, "avatar_url must be an absolute http or https URL")
	}
	return nil
}
