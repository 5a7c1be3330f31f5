package store

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tetherim/tether"
)

// normalizeUsername lowercases name and checks it against the api limits.
func normalizeUsername(name string) (string, error) {
	name = strings.ToLower(name)
	if n := len(name); n < tether.MinUsernameLen || n > tether.MaxUsernameLen {
		return "", tether.Errorf(tether.EINVALID, "username must be %d to %d characters", tether.MinUsernameLen, tether.MaxUsernameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", tether.Errorf(tether.EINVALID, "username may contain only letters, digits, '_', '.' and '-'")
		}
	}
	return name, nil
}

func validatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return tether.Errorf(tether.EINVALID, "password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < tether.MinPasswordLen || n > tether.MaxPasswordLen {
		return tether.Errorf(tether.EINVALID, "password must be %d to %d characters", tether.MinPasswordLen, tether.MaxPasswordLen)
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
func normalizeDevice(d tether.Device) (tether.Device, error) {
	if !printable(d.ID, tether.MaxDeviceIDLen) {
		return d, tether.Errorf(tether.EINVALID, "device_id must be 1 to %d printable characters", tether.MaxDeviceIDLen)
	}
	if d.Platform == "" {
		d.Platform = "other"
	}
	d.Platform = strings.ToLower(d.Platform)
	if !slices.Contains(tether.Platforms, d.Platform) {
		return d, tether.Errorf(tether.EINVALID, "platform must be one of %s", strings.Join(tether.Platforms, ", "))
	}
	return d, nil
}

var messageTypes = []string{tether.MessageText, tether.MessageImage, tether.MessageFile, tether.MessageCustom}
