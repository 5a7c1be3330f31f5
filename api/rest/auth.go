package rest

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/token"
)

// authenticate checks the Bearer access token locally (no database), refuses
// tokens of revoked login sessions (one Redis lookup), and puts the caller on
// the context. It runs before validation, so an anonymous
// client learns nothing about an endpoint beyond "authenticate first".
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	if h == "" {
		writeProblem(c, tether.EUNAUTHORIZED, "An access token is required (Authorization: Bearer <token>).")
		return
	}
	scheme, raw, ok := strings.Cut(h, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		writeProblem(c, tether.EUNAUTHORIZED, `The Authorization header must be "Bearer <token>".`)
		return
	}
	claims, err := s.verifier.Verify(raw)
	if errors.Is(err, token.ErrExpired) {
		writeProblem(c, tether.EUNAUTHORIZED, "The access token has expired.")
		return
	} else if err != nil {
		writeProblem(c, tether.EUNAUTHORIZED, "The access token is invalid.")
		return
	}
	if s.revoked.isRevoked(c.Request.Context(), claims.SessionID) {
		writeProblem(c, tether.EUNAUTHORIZED, "The login session of this access token was revoked.")
		return
	}
	c.Set(ctxCaller, tether.Caller{
		UserID:     claims.UserID,
		DeviceID:   claims.DeviceID,
		Platform:   claims.Platform,
		SessionID:  claims.SessionID,
		AppVersion: claims.AppVersion,
	})
	c.Next()
}

// callerOf returns the caller authenticate put on the context. The second
// result is false on a route registered without authentication, a wiring
// bug that the handler must answer as an internal error.
func callerOf(c *gin.Context) (tether.Caller, bool) {
	v, ok := c.Get(ctxCaller)
	if !ok {
		return tether.Caller{}, false
	}
	caller, ok := v.(tether.Caller)
	return caller, ok
}
