package rest

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// profileUpdateRequest is the body of PATCH /v1/users/me/profile; absent
// fields stay as they are.
type profileUpdateRequest struct {
	DisplayName *string         `json:"display_name"`
	AvatarURL   *string         `json:"avatar_url"`
	Attributes  json.RawMessage `json:"attributes"`
}

// myProfile handles GET /v1/users/me/profile.
func (s *Server) myProfile(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	p, err := s.profiles.Profile(c.Request.Context(), caller.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// updateMyProfile handles PATCH /v1/users/me/profile.
func (s *Server) updateMyProfile(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	var req profileUpdateRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	p, err := s.profiles.UpdateProfile(c.Request.Context(), caller.UserID, tether.ProfileUpdate{
		DisplayName: req.DisplayName, AvatarURL: req.AvatarURL, Attributes: req.Attributes,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// userProfile handles GET /v1/users/{id}/profile.
func (s *Server) userProfile(c *gin.Context) {
	id, err := parseUserID(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	p, err := s.profiles.Profile(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}
