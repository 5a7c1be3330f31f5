package rest

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// logout handles POST /v1/sessions/logout.
func (s *Server) logout(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	if err := s.sessions.Logout(c.Request.Context(), caller); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type devicesResponse struct {
	Devices []tether.DeviceSession `json:"devices"`
}

// devices handles GET /v1/devices.
func (s *Server) devices(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	list, err := s.sessions.Devices(c.Request.Context(), caller)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, devicesResponse{Devices: list})
}

// revokeDevice handles DELETE /v1/devices/{session_id}.
func (s *Server) revokeDevice(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	if err := s.sessions.RevokeDevice(c.Request.Context(), caller, c.Param("session_id")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type passwordChangeRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// changePassword handles POST /v1/account/password.
func (s *Server) changePassword(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	var req passwordChangeRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	if err := s.sessions.ChangePassword(c.Request.Context(), caller, req.OldPassword, req.NewPassword); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
