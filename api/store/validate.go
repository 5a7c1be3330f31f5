package store

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tetherim/tether/api"
)

// normalizeUsername lowercases name and checks it against the api limits.
func normalizeUsername(name string) (string, error) {
	name = strings.ToLower(name)
	if n := len(name); n < api.MinUsernameLen || n > api.MaxUsernameLen {
		return "", api.Errorf(api.EINVALID, "username must be %d to %d characters", api.MinUsernameLen, api.MaxUsernameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", api.Errorf(api.EINVALID, "username may contain only letters, digits, '_', '.' and '-'")
		}
	}
	return name, nil
}

func validatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return api.Errorf(api.EINVALID, "password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < api.MinPasswordLen || n > api.MaxPasswordLen {
		return api.Errorf(api.EINVALID, "password must be %d to %d characters", api.MinPasswordLen, api.MaxPasswordLen)
	}
	return nil
}

// printable reports a non-empty valid UTF-8 string of at most max characters
// with no control characters.
func printable(s string, max int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// normalizeDevice checks a device; an empty platform means "other".
func normalizeDevice(d api.Device) (api.Device, error) {
	if !printable(d.ID, api.MaxDeviceIDLen) {
		return d, api.Errorf(api.EINVALID, "device_id must be 1 to %d printable characters", api.MaxDeviceIDLen)
	}
	if d.Platform == "" {
		d.Platform = "other"
	}
	d.Platform = strings.ToLower(d.Platform)
	if !slices.Contains(api.Platforms, d.Platform) {
		return d, api.Errorf(api.EINVALID, "platform must be one of %s", strings.Join(api.Platforms, ", "))
	}
	return d, nil
}

var messageTypes = []string{api.MessageText, api.MessageImage, api.MessageFile, api.MessageCustom}
