// Errors leave the API as RFC 9457 problem documents. Which status a code
// gets is shared/problem's table, the same one the Go client reads back.

package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
)

// writeProblem answers the request with a problem document and stops the
// handler chain.
func writeProblem(c *gin.Context, code, detail string) {
	p := problem.New(code, detail)
	if p.Status == http.StatusUnauthorized && c.Writer.Header().Get("WWW-Authenticate") == "" {
		// Routes authenticated by API key set their own challenge first.
		c.Header("WWW-Authenticate", `Bearer realm="tether"`)
	}
	c.Set(ctxProblemCode, p.Code)
	body, err := json.Marshal(p)
	if err != nil {
		// A Problem holds only strings and an int; this cannot fail, but
		// a status line is still owed to the client.
		c.AbortWithStatus(p.Status)
		return
	}
	c.Abort()
	c.Data(p.Status, problem.ContentType, body)
}

// fail answers the request with the problem for err. Internal errors keep
// their cause on the context for the request log line and show the client
// only a generic message.
func fail(c *gin.Context, err error) {
	code, msg := tether.ErrorCode(err), tether.ErrorMessage(err)
	if code == tether.EINTERNAL && errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() != nil {
		// The request's deadline (Server.deadline) passed while a
		// dependency kept it waiting.
		code, msg = tether.EUNAVAILABLE, "A dependency did not answer in time; retry later."
		err = fmt.Errorf("%w (request timeout)", err)
	}
	if problem.Status(code) >= http.StatusInternalServerError {
		_ = c.Error(err)
	}
	var retry time.Duration
	var e *tether.Error
	if errors.As(err, &e) {
		retry = e.RetryAfter
	}
	if retry <= 0 && code == tether.EUNAVAILABLE {
		// A dependency is down: say when to come back, so clients and load
		// balancers retry instead of treating it as a failure of the request.
		retry = defaultRetryAfterUnavailable
	}
	if retry > 0 {
		// Whole seconds, rounded up: a client retrying at once would be refused again.
		c.Header("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
	}
	writeProblem(c, code, msg)
}

// defaultRetryAfterUnavailable is the Retry-After of an unavailable error
// that names none.
const defaultRetryAfterUnavailable = time.Second
