package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
)

// maxResponseBytes bounds a response body: a full sync page of the largest
// messages fits many times over, a runaway body does not exhaust memory.
const maxResponseBytes = 32 << 20

// API is a small client of Tether's REST API. It is safe for concurrent use
// and holds no credentials: each call that needs them takes an access token.
type API struct {
	base string
	hc   *http.Client
}

// NewAPI returns a client of the REST API at baseURL (e.g.
// "http://127.0.0.1:8080"). A nil httpClient means a client with a 30s timeout.
func NewAPI(baseURL string, httpClient *http.Client) *API {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &API{base: strings.TrimRight(baseURL, "/"), hc: httpClient}
}

// Register creates an account. A taken username is a *ProblemError with
// code tether.ECONFLICT.
func (a *API) Register(ctx context.Context, username, password string) (*tether.User, error) {
	var u tether.User
	_, err := a.do(ctx, http.MethodPost, "/v1/accounts", "", map[string]string{
		"username": username, "password": password,
	}, &u)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Login opens a session for a device and returns its tokens.
func (a *API) Login(ctx context.Context, username, password, deviceID, platform string) (*tether.Tokens, error) {
	var t tether.Tokens
	_, err := a.do(ctx, http.MethodPost, "/v1/sessions", "", map[string]string{
		"username": username, "password": password, "device_id": deviceID, "platform": platform,
	}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Refresh exchanges a refresh token for new tokens. The old refresh token
// stops working; reusing it revokes the session.
func (a *API) Refresh(ctx context.Context, refreshToken string) (*tether.Tokens, error) {
	var t tether.Tokens
	_, err := a.do(ctx, http.MethodPost, "/v1/sessions/refresh", "", map[string]string{
		"refresh_token": refreshToken,
	}, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// Me returns the account the access token belongs to.
func (a *API) Me(ctx context.Context, access string) (*tether.User, error) {
	var u tether.User
	if _, err := a.do(ctx, http.MethodGet, "/v1/users/me", access, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// User looks an account up by id, e.g. the sender of a message. An unknown
// id is a *ProblemError with code tether.ENOTFOUND.
func (a *API) User(ctx context.Context, access string, id int64) (*tether.User, error) {
	var u tether.User
	if _, err := a.do(ctx, http.MethodGet, "/v1/users/"+strconv.FormatInt(id, 10), access, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByName looks an account up by username. An unknown name is a
// *ProblemError with code tether.ENOTFOUND.
func (a *API) UserByName(ctx context.Context, access, username string) (*tether.User, error) {
	var u tether.User
	if _, err := a.do(ctx, http.MethodGet, "/v1/users/by-name/"+url.PathEscape(username), access, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Send sends a 1:1 message. created is false when the server already had a
// message with this clientMsgID from this sender (a retry): sending again
// with the same clientMsgID is always safe.
func (a *API) Send(ctx context.Context, access string, recipientID int64, clientMsgID, typ string, content json.RawMessage) (msg *tether.Message, created bool, err error) {
	if !json.Valid(content) {
		return nil, false, errors.New("tether api: message content is not valid JSON")
	}
	body := struct {
		RecipientID int64           `json:"recipient_id"`
		ClientMsgID string          `json:"client_msg_id"`
		Type        string          `json:"type"`
		Content     json.RawMessage `json:"content"`
	}{recipientID, clientMsgID, typ, content}
	var m tether.Message
	status, err := a.do(ctx, http.MethodPost, "/v1/messages", access, body, &m)
	if err != nil {
		return nil, false, err
	}
	return &m, status == http.StatusCreated, nil
}

// Sync returns a page of the caller's timeline after version since. limit
// <= 0 lets the server choose.
func (a *API) Sync(ctx context.Context, access string, since uint64, limit int) (*tether.SyncPage, error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p tether.SyncPage
	if _, err := a.do(ctx, http.MethodGet, "/v1/sync?"+q.Encode(), access, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// History returns a page of a conversation's messages.
func (a *API) History(ctx context.Context, access, conversationID string, hq tether.HistoryQuery) (*tether.HistoryPage, error) {
	q := url.Values{}
	if hq.Before != "" {
		q.Set("before", hq.Before)
	}
	if hq.After != "" {
		q.Set("after", hq.After)
	}
	if hq.Limit > 0 {
		q.Set("limit", strconv.Itoa(hq.Limit))
	}
	path := "/v1/conversations/" + url.PathEscape(conversationID) + "/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var p tether.HistoryPage
	if _, err := a.do(ctx, http.MethodGet, path, access, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// do performs one request and decodes a 2xx body into out. Any other status
// becomes a *ProblemError.
func (a *API) do(ctx context.Context, method, path, access string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("tether api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, fmt.Errorf("tether api: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("tether api: %s %s: %w", method, stripQuery(path), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("tether api: %s %s: read response: %w", method, stripQuery(path), err)
	}
	if len(raw) > maxResponseBytes {
		return resp.StatusCode, fmt.Errorf("tether api: %s %s: response over %d bytes", method, stripQuery(path), maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p := decodeProblem(resp.StatusCode, raw)
		p.RetryAfter = retryAfterOf(resp.Header.Get("Retry-After"), time.Now())
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("tether api: %s %s: decode response: %w", method, stripQuery(path), err)
		}
	}
	return resp.StatusCode, nil
}

func decodeProblem(status int, raw []byte) *ProblemError {
	var doc problem.Problem
	// A body that is not a problem document still yields a usable error.
	_ = json.Unmarshal(raw, &doc)
	p := &ProblemError{Status: status, Code: doc.Code, Type: doc.Type, Title: doc.Title, Detail: doc.Detail}
	if p.Code == "" {
		p.Code = problem.Code(status)
	}
	if p.Title == "" {
		p.Title = http.StatusText(status)
	}
	return p
}

// stripQuery keeps query strings (versions, cursors) out of error texts and logs.
func stripQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}
