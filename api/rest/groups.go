package rest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// Groups (issue 4): thin handlers over tether.GroupService. Permissions, limits
// and events live in the service; here are only decoding and statuses.

// pathID parses a positive integer path parameter.
func pathID(c *gin.Context, name string) (int64, error) {
	v, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || v < 1 {
		return 0, tether.Errorf(tether.EINVALID, "path parameter %q must be an integer from 1 to %d", name, int64(1<<63-1))
	}
	return v, nil
}

// groupCall is the common start of a group handler: the caller and the
// named path ids, or a problem already written.
func (s *Server) groupCall(c *gin.Context, params ...string) (tether.Caller, []int64, bool) {
	if s.groups == nil {
		fail(c, tether.Errorf(tether.EUNAVAILABLE, "groups are not served by this server"))
		return tether.Caller{}, nil, false
	}
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return caller, nil, false
	}
	ids := make([]int64, len(params))
	for i, p := range params {
		v, err := pathID(c, p)
		if err != nil {
			fail(c, err)
			return caller, nil, false
		}
		ids[i] = v
	}
	return caller, ids, true
}

// decodeBody decodes the request body into v, writing the problem on failure.
func decodeBody(c *gin.Context, v any) bool {
	if err := decodeJSON(c.Request.Body, v); err != nil {
		fail(c, err)
		return false
	}
	return true
}

// answer writes v with status, or the problem of err.
func answer(c *gin.Context, status int, v any, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	if v == nil {
		c.Status(status)
		return
	}
	c.JSON(status, v)
}

type createGroupRequest struct {
	Name         string  `json:"name"`
	AvatarURL    string  `json:"avatar_url"`
	Announcement string  `json:"announcement"`
	MemberIDs    []int64 `json:"member_ids"`
}

// createGroup handles POST /v1/groups.
func (s *Server) createGroup(c *gin.Context) {
	caller, _, ok := s.groupCall(c)
	var req createGroupRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	g, err := s.groups.CreateGroup(c.Request.Context(), caller.UserID, tether.NewGroup{
		Name: req.Name, AvatarURL: req.AvatarURL, Announcement: req.Announcement, MemberIDs: req.MemberIDs,
	})
	answer(c, http.StatusCreated, g, err)
}

// listGroups handles GET /v1/groups.
func (s *Server) listGroups(c *gin.Context) {
	caller, _, ok := s.groupCall(c)
	if !ok {
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.groups.Groups(c.Request.Context(), caller.UserID, c.Query("cursor"), limit)
	answer(c, http.StatusOK, page, err)
}

// getGroup handles GET /v1/groups/{group_id}.
func (s *Server) getGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	if !ok {
		return
	}
	g, err := s.groups.Group(c.Request.Context(), caller.UserID, ids[0])
	answer(c, http.StatusOK, g, err)
}

type updateGroupRequest struct {
	Name         *string `json:"name"`
	AvatarURL    *string `json:"avatar_url"`
	Announcement *string `json:"announcement"`
}

// updateGroup handles PATCH /v1/groups/{group_id}.
func (s *Server) updateGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	var req updateGroupRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	g, err := s.groups.UpdateGroup(c.Request.Context(), caller.UserID, ids[0], tether.GroupUpdate{
		Name: req.Name, AvatarURL: req.AvatarURL, Announcement: req.Announcement,
	})
	answer(c, http.StatusOK, g, err)
}

// dissolveGroup handles DELETE /v1/groups/{group_id}.
func (s *Server) dissolveGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	if !ok {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.DissolveGroup(c.Request.Context(), caller.UserID, ids[0]))
}

// listGroupMembers handles GET /v1/groups/{group_id}/members.
func (s *Server) listGroupMembers(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	if !ok {
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.groups.Members(c.Request.Context(), caller.UserID, ids[0], c.Query("cursor"), limit)
	answer(c, http.StatusOK, page, err)
}

type userIDsRequest struct {
	UserIDs []int64 `json:"user_ids"`
}

// addGroupMembers handles POST /v1/groups/{group_id}/members.
func (s *Server) addGroupMembers(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	var req userIDsRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	g, err := s.groups.AddMembers(c.Request.Context(), caller.UserID, ids[0], req.UserIDs)
	answer(c, http.StatusOK, g, err)
}

// removeGroupMember handles DELETE /v1/groups/{group_id}/members/{user_id}.
func (s *Server) removeGroupMember(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id", "user_id")
	if !ok {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.RemoveMember(c.Request.Context(), caller.UserID, ids[0], ids[1]))
}

// leaveGroup handles POST /v1/groups/{group_id}/leave.
func (s *Server) leaveGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	if !ok {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.LeaveGroup(c.Request.Context(), caller.UserID, ids[0]))
}

type roleRequest struct {
	Role string `json:"role"`
}

// setGroupRole handles PUT /v1/groups/{group_id}/members/{user_id}/role.
func (s *Server) setGroupRole(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id", "user_id")
	var req roleRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.SetRole(c.Request.Context(), caller.UserID, ids[0], ids[1], req.Role))
}

type userIDRequest struct {
	UserID int64 `json:"user_id"`
}

// transferGroup handles POST /v1/groups/{group_id}/transfer.
func (s *Server) transferGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	var req userIDRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.TransferOwnership(c.Request.Context(), caller.UserID, ids[0], req.UserID))
}

// muteMemberRequest sets exactly one of until (a time, or null to unmute)
// and duration_seconds.
type muteMemberRequest struct {
	Until           json.RawMessage `json:"until"` // "null" when sent as null, empty when absent
	DurationSeconds *int64          `json:"duration_seconds"`
}

// muteUntil turns a mute request into the end of the mute (nil: unmute).
func (r muteMemberRequest) muteUntil(at time.Time) (*time.Time, error) {
	switch {
	case (len(r.Until) > 0) == (r.DurationSeconds != nil):
		return nil, tether.Errorf(tether.EINVALID, "set exactly one of until and duration_seconds")
	case r.DurationSeconds != nil:
		d := *r.DurationSeconds
		if d < 1 || d > tether.MaxGroupMuteSeconds {
			return nil, tether.Errorf(tether.EINVALID, "duration_seconds must be 1 to %d", tether.MaxGroupMuteSeconds)
		}
		u := at.Add(time.Duration(d) * time.Second)
		return &u, nil
	case bytes.Equal(r.Until, []byte("null")):
		return nil, nil
	}
	var u time.Time
	if err := json.Unmarshal(r.Until, &u); err != nil {
		return nil, tether.Errorf(tether.EINVALID, "until must be an RFC 3339 date-time or null")
	}
	return &u, nil
}

// muteGroupMember handles PUT /v1/groups/{group_id}/members/{user_id}/mute.
func (s *Server) muteGroupMember(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id", "user_id")
	var req muteMemberRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	until, err := req.muteUntil(time.Now())
	if err != nil {
		fail(c, err)
		return
	}
	m, err := s.groups.MuteMember(c.Request.Context(), caller.UserID, ids[0], ids[1], until)
	answer(c, http.StatusOK, m, err)
}

type muteGroupRequest struct {
	Muted *bool `json:"muted"`
}

// muteGroup handles PUT /v1/groups/{group_id}/mute.
func (s *Server) muteGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	var req muteGroupRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	if req.Muted == nil {
		fail(c, tether.Errorf(tether.EINVALID, "request body: muted is required"))
		return
	}
	g, err := s.groups.MuteGroup(c.Request.Context(), caller.UserID, ids[0], *req.Muted)
	answer(c, http.StatusOK, g, err)
}

// inviteToGroup handles POST /v1/groups/{group_id}/invitations.
func (s *Server) inviteToGroup(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "group_id")
	var req userIDRequest
	if !ok || !decodeBody(c, &req) {
		return
	}
	inv, err := s.groups.Invite(c.Request.Context(), caller.UserID, ids[0], req.UserID)
	answer(c, http.StatusCreated, inv, err)
}

// listInvitations handles GET /v1/invitations.
func (s *Server) listInvitations(c *gin.Context) {
	caller, _, ok := s.groupCall(c)
	if !ok {
		return
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.groups.Invitations(c.Request.Context(), caller.UserID, c.Query("cursor"), limit)
	answer(c, http.StatusOK, page, err)
}

// acceptInvitation handles POST /v1/invitations/{invitation_id}/accept.
func (s *Server) acceptInvitation(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "invitation_id")
	if !ok {
		return
	}
	g, err := s.groups.AcceptInvitation(c.Request.Context(), caller.UserID, ids[0])
	answer(c, http.StatusOK, g, err)
}

// deleteInvitation handles DELETE /v1/invitations/{invitation_id}.
func (s *Server) deleteInvitation(c *gin.Context) {
	caller, ids, ok := s.groupCall(c, "invitation_id")
	if !ok {
		return
	}
	answer(c, http.StatusNoContent, nil, s.groups.DeleteInvitation(c.Request.Context(), caller.UserID, ids[0]))
}
