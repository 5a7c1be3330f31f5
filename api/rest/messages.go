package rest

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/bulkhead"
)

// errNoCaller is the internal error of an authenticated handler reached
// without authentication: a routing bug, never the client's fault.
var errNoCaller = errors.New("rest: handler requires authentication but no caller is set")

type sendRequest struct {
	RecipientID int64           `json:"recipient_id"`
	GroupID     int64           `json:"group_id"`
	ClientMsgID string          `json:"client_msg_id"`
	Type        string          `json:"type"`
	Content     json.RawMessage `json:"content"`
}

// send handles POST /v1/messages: 201 for a new message, 200 for a retry
// of one that exists.
func (s *Server) send(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	if err := s.throttle.Send(c.Request.Context(), caller.UserID); err != nil {
		fail(c, err)
		return
	}
	var req sendRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	if len(req.Content) == 0 {
		fail(c, tether.Errorf(tether.EINVALID, "request body: content is required"))
		return
	}
	pool := bulkhead.Send
	if req.GroupID != 0 {
		pool = bulkhead.GroupSend
	}
	release, ok := s.enterPool(c, pool)
	if !ok {
		return
	}
	defer release()
	msg, created, err := s.messages.Send(c.Request.Context(), caller, tether.NewMessage{
		RecipientID: req.RecipientID,
		GroupID:     req.GroupID,
		ClientMsgID: req.ClientMsgID,
		Type:        req.Type,
		Content:     req.Content,
	})
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, msg)
}

// sync handles GET /v1/sync.
func (s *Server) sync(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	since, err := parseSince(c.Query("since"))
	if err != nil {
		fail(c, err)
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.messages.Sync(c.Request.Context(), caller.UserID, since, limit)
	if err != nil {
		fail(c, err)
		return
	}
	if page.Entries == nil {
		page.Entries = []tether.Entry{}
	}
	c.JSON(http.StatusOK, page)
}

// history handles GET /v1/conversations/{conversation_id}/messages.
func (s *Server) history(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	q, err := historyQuery(c.Query("before"), c.Query("after"), c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.messages.History(c.Request.Context(), caller.UserID, c.Param("conversation_id"), s.historyLimit(q))
	if err != nil {
		fail(c, err)
		return
	}
	if page.Messages == nil {
		page.Messages = []tether.Message{}
	}
	c.JSON(http.StatusOK, page)
}
