package rest

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/switches"
)

// Pushes, batches, broadcasts and push status of the push API, for callers
// holding an API key (authenticateKey in apikeys.go).

type pushRequest struct {
	UserIDs        []int64         `json:"user_ids"`
	Platforms      []string        `json:"platforms"`
	Payload        json.RawMessage `json:"payload"`
	TTLSeconds     int             `json:"ttl_seconds"`
	CollapseKey    string          `json:"collapse_key"`
	IdempotencyKey string          `json:"idempotency_key"`
	Persist        bool            `json:"persist"`
}

func (r pushRequest) domain() tether.PushRequest {
	return tether.PushRequest{
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
	if s.degradedForService(c, switches.PushAPI, k, "The push API") {
		return
	}
	var req pushRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	// Push spends the key's rate in the same round trip as the push.
	res, err := s.push.Push(c.Request.Context(), k, req.domain())
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
	if s.degradedForService(c, switches.PushAPI, k, "The push API") {
		return
	}
	var req pushBatchRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		fail(c, err)
		return
	}
	ps := make([]tether.PushRequest, len(req.Pushes))
	for i, p := range req.Pushes {
		ps[i] = p.domain()
	}
	items, err := s.push.PushBatch(c.Request.Context(), k, ps) // spends the rate, as Push
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]pushBatchResult, len(items))
	for i, it := range items {
		if it.Err != nil {
			p := problem.New(tether.ErrorCode(it.Err), tether.ErrorMessage(it.Err))
			if p.Code == tether.EINTERNAL {
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
	if s.degradedForService(c, switches.Broadcast, k, "Broadcast") {
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
	res, err := s.push.Broadcast(ctx, k, tether.BroadcastRequest{Platforms: req.Platforms, Payload: req.Payload, TTLSeconds: req.TTLSeconds})
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
