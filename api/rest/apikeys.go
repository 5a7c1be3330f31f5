package rest

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// The push API for third-party services authenticates with an API key in
// X-API-Key and one of the scopes each route names. User access tokens are
// not accepted on these routes, and API keys not on user routes: the two
// kinds of principals never mix.

// APIKeyHeader carries the secret of an API key.
const APIKeyHeader = "X-API-Key"

// keyChallenge is the WWW-Authenticate challenge of API key routes.
const keyChallenge = `APIKey realm="tether", header="X-API-Key"`

// ctxKeyCaller holds the tether.KeyCaller of an API key route.
const ctxKeyCaller = "tether.key_caller"

// authenticateKey checks the API key (through the service's short cache)
// and that it holds one of scopes. It runs before validation, like
// authenticate.
func (s *Server) authenticateKey(scopes ...string) gin.HandlerFunc {
	need := strings.Join(scopes, " or ")
	return func(c *gin.Context) {
		if s.apiKeys == nil || s.push == nil {
			writeProblem(c, tether.EUNAVAILABLE, "The push API is not configured on this server.")
			return
		}
		secret := c.GetHeader(APIKeyHeader)
		if secret == "" {
			c.Header("WWW-Authenticate", keyChallenge)
			writeProblem(c, tether.EUNAUTHORIZED, "An API key is required (X-API-Key header); user access tokens are not accepted here.")
			return
		}
		k, err := s.apiKeys.KeyBySecret(c.Request.Context(), secret)
		if err != nil {
			if tether.ErrorCode(err) == tether.EUNAUTHORIZED {
				c.Header("WWW-Authenticate", keyChallenge)
			}
			fail(c, err)
			return
		}
		if !slices.ContainsFunc(scopes, k.Has) {
			writeProblem(c, tether.EFORBIDDEN, "The API key lacks the "+need+" scope.")
			return
		}
		c.Set(ctxKeyCaller, *k)
		c.Next()
	}
}

func keyCallerOf(c *gin.Context) (tether.KeyCaller, bool) {
	v, ok := c.Get(ctxKeyCaller)
	if !ok {
		return tether.KeyCaller{}, false
	}
	k, ok := v.(tether.KeyCaller)
	return k, ok
}

// ---- Admin: API keys ----

type createAPIKeyRequest struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	RateLimit int      `json:"rate_limit"`
}

// createAPIKey handles POST /v1/admin/api-keys.
func (s *Server) createAPIKey(c *gin.Context) {
	var req createAPIKeyRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	k, err := s.apiKeys.CreateKey(c.Request.Context(), tether.NewAPIKey{Name: req.Name, Scopes: req.Scopes, RateLimit: req.RateLimit})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store") // the secret is in the body
	c.JSON(http.StatusCreated, k)
}

// listAPIKeys handles GET /v1/admin/api-keys.
func (s *Server) listAPIKeys(c *gin.Context) {
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.apiKeys.Keys(c.Request.Context(), c.Query("cursor"), limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// revokeAPIKey handles DELETE /v1/admin/api-keys/{key_id}.
func (s *Server) revokeAPIKey(c *gin.Context) {
	if err := s.apiKeys.RevokeKey(c.Request.Context(), c.Param("key_id")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
