package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tetherim/tether"
)

// Conversations returns a page of the caller's conversation list, newest
// activity first. Pass the page's NextCursor as cursor for the next one;
// limit <= 0 lets the server choose.
func (a *API) Conversations(ctx context.Context, access, cursor string, limit int) (*tether.ConversationPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/conversations"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var p tether.ConversationPage
	if _, err := a.do(ctx, http.MethodGet, path, access, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Conversation returns one conversation of the caller's list.
func (a *API) Conversation(ctx context.Context, access, conversationID string) (*tether.Conversation, error) {
	var c tether.Conversation
	if _, err := a.do(ctx, http.MethodGet, conversationPath(conversationID, ""), access, nil, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// MarkRead marks a conversation read up to version, a version of the
// caller's timeline (usually the newest message the application showed).
// The peer of a 1:1 conversation gets a read receipt.
func (a *API) MarkRead(ctx context.Context, access, conversationID string, version uint64) (*tether.Conversation, error) {
	body := struct {
		Version uint64 `json:"version"`
	}{version}
	var c tether.Conversation
	if _, err := a.do(ctx, http.MethodPost, conversationPath(conversationID, "/read"), access, body, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// MuteConversation mutes or unmutes a conversation for the caller.
func (a *API) MuteConversation(ctx context.Context, access, conversationID string, muted bool) (*tether.Conversation, error) {
	body := struct {
		Muted bool `json:"muted"`
	}{muted}
	var c tether.Conversation
	if _, err := a.do(ctx, http.MethodPut, conversationPath(conversationID, "/mute"), access, body, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DeleteConversation deletes a conversation from the caller's list until
// its next message.
func (a *API) DeleteConversation(ctx context.Context, access, conversationID string) error {
	_, err := a.do(ctx, http.MethodDelete, conversationPath(conversationID, ""), access, nil, nil)
	return err
}

// Recall retracts one of the caller's messages within the server's recall
// window and returns it, recalled. Recalling it again is safe.
func (a *API) Recall(ctx context.Context, access string, messageID int64) (*tether.Message, error) {
	var m tether.Message
	path := "/v1/messages/" + strconv.FormatInt(messageID, 10) + "/recall"
	if _, err := a.do(ctx, http.MethodPost, path, access, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func conversationPath(id, suffix string) string {
	return "/v1/conversations/" + url.PathEscape(id) + suffix
}
