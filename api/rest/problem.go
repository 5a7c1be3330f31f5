package rest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// Error codes that only the HTTP layer produces. They sit next to the api
// codes in the "code" member of a problem document.
const (
	codeMethodNotAllowed = "method_not_allowed" // the path exists, the method does not
	codeRateLimited      = tether.ERATELIMITED  // the push API's per-key limiter (tether.Error.RetryAfter)
)

// ProblemTypeBase prefixes the code of an error to form the "type" URI of its
// problem document; the URIs are stable, clients may compare them.
const ProblemTypeBase = "https://tether.im/problems/"

// problemContentType is the media type of RFC 9457 problem documents.
const problemContentType = "application/problem+json"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// statusOf maps an error code to its HTTP status. It is the only place that
// does: handlers return codes, never statuses of errors.
func statusOf(code string) int {
	switch code {
	case tether.EINVALID:
		return http.StatusBadRequest
	case tether.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case tether.EFORBIDDEN:
		return http.StatusForbidden
	case tether.ENOTFOUND:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case tether.ECONFLICT:
		return http.StatusConflict
	case tether.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case codeRateLimited:
		return http.StatusTooManyRequests
	case tether.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// newProblem builds the problem document for an error code and a
// caller-safe detail. Unknown codes become internal errors so that a code
// without a mapping can never reach a client with a wrong status.
func newProblem(code, detail string) Problem {
	status := statusOf(code)
	if status == http.StatusInternalServerError {
		code = tether.EINTERNAL
	}
	return Problem{
		Type:   ProblemTypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

// writeProblem answers the request with a problem document and stops the
// handler chain.
func writeProblem(c *gin.Context, code, detail string) {
	p := newProblem(code, detail)
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
	c.Data(p.Status, problemContentType, body)
}

// fail answers the request with the problem for err. Internal errors keep
// their cause on the context for the request log line and show the client
// only a generic message.
func fail(c *gin.Context, err error) {
	code := tether.ErrorCode(err)
	if statusOf(code) >= http.StatusInternalServerError {
		_ = c.Error(err)
	}
	var e *tether.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		// Whole seconds, rounded up: a client retrying at once would be refused again.
		c.Header("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	writeProblem(c, code, tether.ErrorMessage(err))
}
