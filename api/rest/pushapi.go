package rest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether/api"
)

// The push API for third-party services authenticates with an API key in
// X-API-Key and one of the scopes each route names. User access tokens are
// not accepted on these routes, and API keys not on user routes: the two
// kinds of principals never mix.

// APIKeyHeader carries the secret of an API key.
const APIKeyHeader = "X-API-Key"

// keyChallenge is the WWW-Authenticate challenge of API key routes.
const keyChallenge = `APIKey realm="tether", header="X-API-Key"`

// ctxKeyCaller holds the api.KeyCaller of an API key route.
const ctxKeyCaller = "tether.key_caller"

// authenticateKey checks the API key (through the service's short cache)
// and that it holds one of scopes. It runs before validation, like
// authenticate.
func (s *Server) authenticateKey(scopes ...string) gin.HandlerFunc {
	need := strings.Join(scopes, " or ")
	return func(c *gin.Context) {
		if s.apiKeys == nil || s.push == nil {
			writeProblem(c, api.EUNAVAILABLE, "The push API is not configured on this server.")
			return
		}
		secret := c.GetHeader(APIKeyHeader)
		if secret == "" {
			c.Header("WWW-Authenticate", keyChallenge)
			writeProblem(c, api.EUNAUTHORIZED, "An API key is required (X-API-Key header); user access tokens are not accepted here.")
			return
		}
		k, err := s.apiKeys.KeyBySecret(c.Request.Context(), secret)
		if err != nil {
			if api.ErrorCode(err) == api.EUNAUTHORIZED {
				c.Header("WWW-Authenticate", keyChallenge)
			}
			fail(c, err)
			return
		}
		if !slices.ContainsFunc(scopes, k.Has) {
			writeProblem(c, api.EFORBIDDEN, "The API key lacks the "+need+" scope.")
			return
		}
		c.Set(ctxKeyCaller, *k)
		c.Next()
	}
}

func keyCallerOf(c *gin.Context) (api.KeyCaller, bool) {
	v, ok := c.Get(ctxKeyCaller)
	if !ok {
		return api.KeyCaller{}, false
	}
	k, ok := v.(api.KeyCaller)
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
	k, err := s.apiKeys.CreateKey(c.Request.Context(), api.NewAPIKey{Name: req.Name, Scopes: req.Scopes, RateLimit: req.RateLimit})
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

// ---- Pushes ----

type pushRequest struct {
	UserIDs        []int64         `json:"user_ids"`
	Platforms      []string        `json:"platforms"`
	Payload        json.RawMessage `json:"payload"`
	TTLSeconds     int             `json:"ttl_seconds"`
	CollapseKey    string          `json:"collapse_key"`
	IdempotencyKey string          `json:"idempotency_key"`
	Persist        bool            `json:"persist"`
}

func (r pushRequest) domain() api.PushRequest {
	return api.PushRequest{
		UserIDs: r.UserIDs, Platforms: r.Platforms, Payload: r.Payload, TTLSeconds: r.TTLSeconds,
		CollapseKey: r.CollapseKey, IdempotencyKey: r.IdempotencyKey, Persist: r.Persist,
	}
}

// sendPush handles POST /v1/push.
func (s *Server) sendPush(c *gin.Context) {
	k, ok := keyCallerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	var req pushRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.push.Allow(ctx, k, 1); err != nil {
		fail(c, err)
		return
	}
	res, err := s.push.Push(ctx, k, req.domain())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, res)
}

type pushBatchRequest struct {
	Pushes []pushRequest `json:"pushes"`
}

// pushBatchResult is one item of a batch answer: a result (status 202) or a
// problem's status, code and detail.
type pushBatchResult struct {
	Status    int    `json:"status"`
	PushID    string `json:"push_id,omitempty"`
	Targeted  *int   `json:"targeted,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Code      string `json:"code,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// sendPushBatch handles POST /v1/push/batch. Every push of the batch counts
// against the key's rate limit; the batch is refused whole when over it.
func (s *Server) sendPushBatch(c *gin.Context) {
	k, ok := keyCallerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	var req pushBatchRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.push.Allow(ctx, k, len(req.Pushes)); err != nil {
		fail(c, err)
		return
	}
	ps := make([]api.PushRequest, len(req.Pushes))
	for i, p := range req.Pushes {
		ps[i] = p.domain()
	}
	items, err := s.push.PushBatch(ctx, k, ps)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]pushBatchResult, len(items))
	for i, it := range items {
		if it.Err != nil {
			p := newProblem(api.ErrorCode(it.Err), api.ErrorMessage(it.Err))
			if p.Code == api.EINTERNAL {
				_ = c.Error(it.Err)
			}
			out[i] = pushBatchResult{Status: p.Status, Code: p.Code, Detail: p.Detail}
			continue
		}
		n := it.Result.Targeted
		out[i] = pushBatchResult{Status: http.StatusAccepted, PushID: it.Result.PushID, Targeted: &n, Duplicate: it.Result.Duplicate}
	}
	c.JSON(http.StatusAccepted, gin.H{"results": out})
}

type broadcastRequest struct {
	Platforms  []string        `json:"platforms"`
	Payload    json.RawMessage `json:"payload"`
	TTLSeconds int             `json:"ttl_seconds"`
}

// sendBroadcast handles POST /v1/push/broadcast.
func (s *Server) sendBroadcast(c *gin.Context) {
	k, ok := keyCallerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	var req broadcastRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.push.Allow(ctx, k, 1); err != nil {
		fail(c, err)
		return
	}
	res, err := s.push.Broadcast(ctx, k, api.BroadcastRequest{Platforms: req.Platforms, Payload: req.Payload, TTLSeconds: req.TTLSeconds})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"push_id": res.PushID})
}

// pushStatus handles GET /v1/push/{push_id}.
func (s *Server) pushStatus(c *gin.Context) {
	k, ok := keyCallerOf(c)
	if !ok {
		fail(c, errNoCaller)
		return
	}
	st, err := s.push.Status(c.Request.Context(), k, c.Param("push_id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
