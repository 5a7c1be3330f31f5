package rest

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// readyTimeout bounds the dependency checks of /readyz.
const readyTimeout = 2 * time.Second

type status struct {
	Status string `json:"status"`
}

// healthz handles GET /healthz: the process is alive.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, status{Status: "ok"})
}

// readyz handles GET /readyz: the dependencies answer.
func (s *Server) readyz(c *gin.Context) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			// The cause is for the log line only; which dependency failed
			// and how is no business of the caller.
			_ = c.Error(err)
			writeProblem(c, tether.EUNAVAILABLE, "A dependency is unavailable.")
			return
		}
	}
	c.JSON(http.StatusOK, status{Status: "ok"})
}

// openapi handles GET /openapi.yaml.
func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", tether.OpenAPI)
}
