package tether

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Account limits. They are part of the contract (openapi.yaml).
const (
	MinUsernameLen = 3
	MaxUsernameLen = 32
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// User is an account.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// NormalizeUsername lowercases name and checks it against the account
// rules: MinUsernameLen to MaxUsernameLen of a-z, 0-9, '_', '.' and '-'.
func NormalizeUsername(name string) (string, error) {
	name = strings.ToLower(name)
	if n := len(name); n < MinUsernameLen || n > MaxUsernameLen {
		return "", Errorf(EINVALID, "username must be %d to %d characters", MinUsernameLen, MaxUsernameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", Errorf(EINVALID, "username may contain only letters, digits, '_', '.' and '-'")
		}
	}
	return name, nil
}

// ValidatePassword checks a new password: valid UTF-8 of MinPasswordLen to
// MaxPasswordLen characters.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return Errorf(EINVALID, "password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return Errorf(EINVALID, "password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}
