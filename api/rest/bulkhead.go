// Each REST route runs in its business's bulkhead (internal/bulkhead), taken
// before anything else is spent on the request, so a saturated business is
// refused in microseconds with 503 overloaded and the others keep their
// workers and connections.

package rest

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tetherim/tether/internal/bulkhead"
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

// inPool runs the rest of the chain holding a worker of the pool, or
// answers 503 overloaded when the pool sheds the request.
func (s *Server) inPool(p *bulkhead.Pool) gin.HandlerFunc {
	return func(c *gin.Context) {
		release, err := p.Acquire(c.Request.Context())
		if err != nil {
			fail(c, err)
			return
		}
		defer release()
		c.Next()
	}
}

// enterPool takes a worker of the named pool for the rest of a handler; it
// answers the request and reports false when the pool sheds it. Without
// bulkheads (unit tests) it always succeeds.
func (s *Server) enterPool(c *gin.Context, name string) (release func(), ok bool) {
	p := s.bulkheads.Pool(name)
	if p == nil {
		return func() {}, true
	}
	release, err := p.Acquire(c.Request.Context())
	if err != nil {
		fail(c, err)
		return nil, false
	}
	return release, true
}
