package rest

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether/api"
)

// logout handles POST /v1/sessions/logout.
func (s *Server) logout(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	if s.sessions == nil {
		fail(c, api.Errorf(api.EINTERNAL, "sessions are not configured"))
		return
	}
	if err := s.sessions.Logout(c.Request.Context(), caller); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
