package client

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tetherim/tether"
)

// ProblemError is an error response of the REST API: an RFC 9457 problem
// document, or a synthesized one when the body was not a problem document
// (a proxy's error page, say).
type ProblemError struct {
	Status int    // HTTP status
	Code   string // stable api error code (tether.ECONFLICT, ...); derived from Status when absent
	Type   string // problem type URI
	Title  string
	Detail string
}

func (e *ProblemError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("tether api: %d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("tether api: %d %s: %s", e.Status, e.Code, e.Title)
}

// Temporary reports whether retrying the same request later may succeed.
func (e *ProblemError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Code == tether.EUNAVAILABLE
}

// ErrorCode returns the api error code of err if it is (or wraps) a
// *ProblemError, and "" otherwise.
func ErrorCode(err error) string {
	var p *ProblemError
	if errors.As(err, &p) {
		return p.Code
	}
	return ""
}
