// Each REST route runs in its business's bulkhead (internal/bulkhead), taken
// before anything else is spent on the request, so a saturated business is
// refused in microseconds with 503 overloaded and the others keep their
// workers and connections.

package rest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/shared/problem"
)

// routePool is the business a route belongs to; "" for routes outside every
// pool: probes and documents (served from memory), and POST /v1/messages,
// whose handler picks send or group_send from the body.
func routePool(method, path string) string {
	switch path {
	case "/healthz", "/readyz", "/openapi.yaml", "/docs", "/docs/", "/docs/rapidoc-min.js":
		return ""
	case "/v1/messages":
		if method == http.MethodPost {
			return ""
		}
	case "/v1/sync", "/v1/conversations/:conversation_id/messages":
		return bulkhead.Sync
	case "/v1/push/broadcast":
		return bulkhead.Broadcast
	}
	if path == "/v1/push" || strings.HasPrefix(path, "/v1/push/") {
		return bulkhead.PushAPI
	}
	return bulkhead.Other
}

// routeChain is the start of every route's handlers: its business's pool
// first (before the body is read, the deadline made, the caller
// authenticated or the request validated), then the body and the
// deadline.
func (s *Server) routeChain(method, path string) []gin.HandlerFunc {
	chain := make([]gin.HandlerFunc, 0, 6)
	if p := s.bulkheads.Pool(routePool(method, path)); p != nil {
		chain = append(chain, s.inPool(p))
	}
	return append(chain, limitBody, s.deadline)
}

// inPool runs the rest of the chain holding a worker of the pool, or
// answers 503 overloaded when the pool sheds the request: a prepared
// answer, no sooner than the queue wait (Pool.HoldRefusal), so that
// shedding a flood costs as little CPU as it can.
func (s *Server) inPool(p *bulkhead.Pool) gin.HandlerFunc {
	shed := newShedAnswer(p)
	return func(c *gin.Context) {
		start := time.Now()
		release, err := p.Acquire(c.Request.Context())
		if err != nil {
			p.HoldRefusal(c.Request.Context(), start)
			shed.write(c)
			return
		}
		defer release()
		c.Next()
	}
}

// shedAnswer is a pool's 503 overloaded problem document, encoded once.
type shedAnswer struct {
	body  []byte
	retry []string
	err   error
}

func newShedAnswer(p *bulkhead.Pool) *shedAnswer {
	err := p.Overloaded()
	pr := problem.New(tether.ErrorCode(err), tether.ErrorMessage(err))
	body, _ := json.Marshal(pr) // strings and an int: cannot fail
	secs := int64((p.RetryAfter() + time.Second - 1) / time.Second)
	return &shedAnswer{body: body, retry: []string{strconv.FormatInt(secs, 10)}, err: err}
}

func (a *shedAnswer) write(c *gin.Context) {
	c.Writer.Header()["Retry-After"] = a.retry
	c.Set(ctxProblemCode, tether.EOVERLOADED)
	_ = c.Error(a.err)
	c.Abort()
	c.Data(http.StatusServiceUnavailable, problem.ContentType, a.body)
}

// enterPool takes a worker of the named pool for the rest of a handler; it
// answers the request and reports false when the pool sheds it. Without
// bulkheads (unit tests) it always succeeds.
func (s *Server) enterPool(c *gin.Context, name string) (release func(), ok bool) {
	p := s.bulkheads.Pool(name)
	if p == nil {
		return func() {}, true
	}
	start := time.Now()
	release, err := p.Acquire(c.Request.Context())
	if err != nil {
		p.HoldRefusal(c.Request.Context(), start)
		fail(c, err)
		return nil, false
	}
	return release, true
}
