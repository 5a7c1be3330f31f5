package tether

import (
	"context"
	"time"
)

// Tokens is the result of a login or a refresh.
type Tokens struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"` // always "Bearer"
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
	UserID       int64     `json:"user_id"`
	SessionID    string    `json:"session_id"`
}

// Caller is the authenticated principal of a request, from its access token.
type Caller struct {
	UserID    int64
	DeviceID  string
	Platform  string
	SessionID string
	// AppVersion is what the client declared at login; empty for clients
	// that declared none.
	AppVersion string
}

// AuthService manages accounts and login sessions.
type AuthService interface {
	// Register creates an account. ECONFLICT if the username is taken.
	Register(ctx context.Context, username, password string) (*User, error)
	// Login checks the password and opens a session for the device.
	// EUNAUTHORIZED for an unknown user or a wrong password (indistinguishable).
	Login(ctx context.Context, username, password string, dev Device) (*Tokens, error)
	// Refresh rotates a refresh token: the old one stops working. Reusing a
	// rotated token revokes its whole session (it was stolen or replayed),
	// exactly as SessionService.Logout does.
	Refresh(ctx context.Context, refreshToken string) (*Tokens, error)
	// User returns an account by id. ENOTFOUND if there is none.
	User(ctx context.Context, id int64) (*User, error)
	// UserByName returns an account by username. ENOTFOUND if there is none.
	UserByName(ctx context.Context, username string) (*User, error)
}
