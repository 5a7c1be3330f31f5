package rest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/switches"
)

type presenceResponse struct {
	Users []tether.Presence `json:"users"`
}

// getPresence handles GET /v1/presence?user_ids=1,2,3.
func (s *Server) getPresence(c *gin.Context) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	if s.presence == nil {
		writeProblem(c, tether.EUNAVAILABLE, "Presence is not configured on this server.")
		return
	}
	if s.degradedFor(c, switches.Presence, caller, "Presence") {
		return
	}
	ids, err := parseUserIDs(c.Query("user_ids"))
	if err != nil {
		fail(c, err)
		return
	}
	users, err := s.presence.Presence(c.Request.Context(), caller, ids)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, presenceResponse{Users: users})
}

// parseUserIDs parses a comma-separated list of 1 to tether.MaxPresenceUsers
// positive user ids. The spec validator checks the same first; this keeps
// the handler safe on its own.
func parseUserIDs(q string) ([]int64, error) {
	parts := strings.Split(q, ",")
	if q == "" || len(parts) > tether.MaxPresenceUsers {
		return nil, tether.Errorf(tether.EINVALID, "query parameter \"user_ids\" must list 1 to %d user ids, comma-separated", tether.MaxPresenceUsers)
	}
	ids := make([]int64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || v < 1 {
			return nil, tether.Errorf(tether.EINVALID, "query parameter \"user_ids\": %q is not a user id (an integer from 1)", p)
		}
		ids[i] = v
	}
	return ids, nil
}
