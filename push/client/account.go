package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/tetherim/tether"
)

// Logout revokes the login session of access: its refresh token stops
// working, and the API and push nodes refuse its access tokens. Logging out
// twice is not an error.
func (a *API) Logout(ctx context.Context, access string) error {
	_, err := a.do(ctx, http.MethodPost, "/v1/sessions/logout", access, nil, nil)
	return err
}

// Devices lists the caller's live login sessions, newest first.
func (a *API) Devices(ctx context.Context, access string) ([]tether.DeviceSession, error) {
	var out struct {
		Devices []tether.DeviceSession `json:"devices"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/v1/devices", access, nil, &out); err != nil {
		return nil, err
	}
	return out.Devices, nil
}

// RevokeDevice revokes one of the caller's login sessions; its live push
// connection is kicked.
func (a *API) RevokeDevice(ctx context.Context, access, sessionID string) error {
	_, err := a.do(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(sessionID), access, nil, nil)
	return err
}

// ChangePassword sets a new password and revokes every other session of the
// caller; the caller's own session stays.
func (a *API) ChangePassword(ctx context.Context, access, oldPassword, newPassword string) error {
	body := struct {
		Old string `json:"old_password"`
		New string `json:"new_password"`
	}{oldPassword, newPassword}
	_, err := a.do(ctx, http.MethodPost, "/v1/account/password", access, body, nil)
	return err
}

// SendToGroup sends a group message; like Send, a retry with the same
// clientMsgID is the same message (created false).
func (a *API) SendToGroup(ctx context.Context, access string, groupID int64, clientMsgID, typ string, content json.RawMessage) (msg *tether.Message, created bool, err error) {
	if !json.Valid(content) {
		return nil, false, errors.New("tether api: message content is not valid JSON")
	}
	body := struct {
		GroupID     int64           `json:"group_id"`
		ClientMsgID string          `json:"client_msg_id"`
		Type        string          `json:"type"`
		Content     json.RawMessage `json:"content"`
	}{groupID, clientMsgID, typ, content}
	var m tether.Message
	status, err := a.do(ctx, http.MethodPost, "/v1/messages", access, body, &m)
	if err != nil {
		return nil, false, err
	}
	return &m, status == http.StatusCreated, nil
}
