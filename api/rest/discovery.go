package rest

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

type pushNodesResponse struct {
	Nodes []tether.PushNode `json:"nodes"`
}

// getPushNodes handles GET /v1/push-nodes?limit=n: where a client opens its
// push connection (api/discovery).
func (s *Server) getPushNodes(c *gin.Context) {
	if _, ok := callerOf(c); !ok {
		fail(c, errNoCaller)
		return
	}
	if s.discovery == nil {
		writeProblem(c, tether.EUNAVAILABLE, "Push node discovery is not configured on this server.")
		return
	}
	limit := tether.DefaultPushNodes
	if q, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(q)
		if err != nil {
			fail(c, tether.Errorf(tether.EINVALID, "query parameter \"limit\" must be an integer from 1 to %d", tether.MaxPushNodes))
			return
		}
		limit = n
	}
	nodes, err := s.discovery.PushNodes(c.Request.Context(), limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, pushNodesResponse{Nodes: nodes})
}
