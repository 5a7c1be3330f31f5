package rest

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// editFunc and listFunc are the two shapes of tether.SocialService methods.
type (
	editFunc func(ctx context.Context, userID, other int64) error
	listFunc func(ctx context.Context, userID int64, cursor string, limit int) (*tether.UserPage, error)
)

// socialCall runs the part of a contacts or blocks handler after its checks:
// the caller, the service and (for the item routes) the user_id parameter.
func (s *Server) socialCall(c *gin.Context, withUser bool) (tether.Caller, tether.SocialService, int64, bool) {
	caller, ok := callerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return caller, nil, 0, false
	}
	var id int64
	if withUser {
		v, err := strconv.ParseInt(c.Param("user_id"), 10, 64)
		if err != nil || v < 1 {
			fail(c, tether.Errorf(tether.EINVALID, "path parameter \"user_id\" must be an integer from 1 to %d", int64(1<<63-1)))
			return caller, nil, 0, false
		}
		id = v
	}
	return caller, s.social, id, true
}

// socialEdit handles PUT and DELETE of /v1/contacts/{user_id} and /v1/blocks/{user_id}.
func (s *Server) socialEdit(op func(tether.SocialService) editFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		caller, svc, id, ok := s.socialCall(c, true)
		if !ok {
			return
		}
		if err := op(svc)(c.Request.Context(), caller.UserID, id); err != nil {
			fail(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// socialList handles GET /v1/contacts and /v1/blocks.
func (s *Server) socialList(op func(tether.SocialService) listFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		caller, svc, _, ok := s.socialCall(c, false)
		if !ok {
			return
		}
		limit, err := parseLimit(c.Query("limit"))
		if err != nil {
			fail(c, err)
			return
		}
		page, err := op(svc)(c.Request.Context(), caller.UserID, c.Query("cursor"), limit)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, page)
	}
}
