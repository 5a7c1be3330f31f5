package tether

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. They are stable strings that clients branch on; api/rest maps
// each to an HTTP status in exactly one place and to the "code" member of an
// RFC 9457 problem document.
const (
	ECONFLICT     = "conflict"     // the resource exists already (e.g. username taken)
	EINTERNAL     = "internal"     // a fault of ours
	EINVALID      = "invalid"      // the request is malformed or breaks a limit
	ENOTFOUND     = "not_found"    // no such resource (or not visible to the caller)
	EUNAUTHORIZED = "unauthorized" // missing, bad or expired credentials
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	ETOOLARGE     = "too_large"    // a body or field over its size limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retry later
	ERATELIMITED  = "rate_limited" // over a rate limit; retry after Error.RetryAfter
	EOVERLOADED   = "overloaded"   // this business's bulkhead is full; retry after Error.RetryAfter
	EDEGRADED     = "degraded"     // this business is turned off by a degradation switch; retry after Error.RetryAfter
)

// Error is a domain error with a stable code and a message safe to show the caller.
type Error struct {
	Code    string
	Message string
	// RetryAfter is how long an ERATELIMITED, EOVERLOADED or EDEGRADED
	// caller should wait (0: unknown).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("tether error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err; internal errors get a generic text.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
