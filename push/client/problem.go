package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
	// RetryAfter is the response's Retry-After (0 when it had none): how
	// long to wait before retrying a 503 or 429.
	RetryAfter time.Duration
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

// retryAfterOf parses a Retry-After header: delay seconds or an HTTP date.
// Absent or unreadable: 0.
func retryAfterOf(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if sec, err := strconv.Atoi(h); err == nil {
		return time.Duration(max(sec, 0)) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
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
