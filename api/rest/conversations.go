package rest

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/switches"
)

// conversationCall runs the part of a conversation handler before its
// service call: the caller and the configured service.
func (s *Server) conversationCall(c *gin.Context) (tether.Caller, bool) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return caller, false
	}
	if s.conversations == nil {
		writeProblem(c, tether.EUNAVAILABLE, "Conversations are not configured on this server.")
		return caller, false
	}
	return caller, true
}

// listConversations handles GET /v1/conversations.
func (s *Server) listConversations(c *gin.Context) {
	caller, ok := s.conversationCall(c)
	if !ok {
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.conversations.Conversations(c.Request.Context(), caller.UserID, c.Query("cursor"), limit)
	if err != nil {
		fail(c, err)
		return
	}
	if page.Conversations == nil {
		page.Conversations = []tether.Conversation{}
	}
	c.JSON(http.StatusOK, page)
}

// getConversation handles GET /v1/conversations/{conversation_id}.
func (s *Server) getConversation(c *gin.Context) {
	caller, ok := s.conversationCall(c)
	if !ok {
		return
	}
	conv, err := s.conversations.Conversation(c.Request.Context(), caller.UserID, c.Param("conversation_id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

type readRequest struct {
	Version *uint64 `json:"version"`
}

// markConversationRead handles POST /v1/conversations/{conversation_id}/read.
func (s *Server) markConversationRead(c *gin.Context) {
	caller, ok := s.conversationCall(c)
	if !ok {
		return
	}
	var req readRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Version == nil {
		fail(c, tether.Errorf(tether.EINVALID, "request body: version is required"))
		return
	}
	// The read_receipts switch is decided in the store, for this request's
	// caller (user, platform, app version).
	ctx := switches.WithSubject(c.Request.Context(), subjectOf(caller))
	conv, err := s.conversations.MarkRead(ctx, caller.UserID, c.Param("conversation_id"), *req.Version)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

type muteRequest struct {
	Muted *bool `json:"muted"`
}

// muteConversation handles PUT /v1/conversations/{conversation_id}/mute.
func (s *Server) muteConversation(c *gin.Context) {
	caller, ok := s.conversationCall(c)
	if !ok {
		return
	}
	var req muteRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Muted == nil {
		fail(c, tether.Errorf(tether.EINVALID, "request body: muted is required"))
		return
	}
	conv, err := s.conversations.SetMuted(c.Request.Context(), caller.UserID, c.Param("conversation_id"), *req.Muted)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, conv)
}

// deleteConversation handles DELETE /v1/conversations/{conversation_id}.
func (s *Server) deleteConversation(c *gin.Context) {
	caller, ok := s.conversationCall(c)
	if !ok {
		return
	}
	if err := s.conversations.DeleteConversation(c.Request.Context(), caller.UserID, c.Param("conversation_id")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// recall handles POST /v1/messages/{message_id}/recall: 200 with the
// recalled message, also when it was recalled already.
func (s *Server) recall(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	id, err := strconv.ParseInt(c.Param("message_id"), 10, 64)
	if err != nil || id < 1 {
		fail(c, tether.Errorf(tether.EINVALID, "path parameter \"message_id\" must be an integer from 1 to %d", int64(1<<63-1)))
		return
	}
	msg, err := s.messages.Recall(c.Request.Context(), caller, id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, msg)
}
