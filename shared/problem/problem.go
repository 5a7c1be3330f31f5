// Package problem is the HTTP face of Tether's error codes: the RFC 9457
// problem document and the one table between error codes and HTTP statuses.
// The server (api/rest) reads the table from code to status, the Go client
// (push/client) from status to code, so the two can never disagree.
package problem

import (
	"net/http"

	"github.com/tetherim/tether"
)

// ContentType is the media type of problem documents.
const ContentType = "application/problem+json"

// TypeBase prefixes the code of an error to form the "type" URI of its
// problem document; the URIs are stable, clients may compare them.
const TypeBase = "https://tether.im/problems/"

// CodeMethodNotAllowed is the one code that only the HTTP layer produces:
// the path exists, the method does not.
const CodeMethodNotAllowed = "method_not_allowed"

// Problem is an RFC 9457 problem document with Tether's stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// table is every error code with its HTTP status. Code reads a status back
// as the first row holding it, so a status shared by several codes (503) is
// read as its first, most general one.
var table = []struct {
	code   string
	status int
}{
	{tether.EINVALID, http.StatusBadRequest},
	{tether.EUNAUTHORIZED, http.StatusUnauthorized},
	{tether.EFORBIDDEN, http.StatusForbidden},
	{tether.ENOTFOUND, http.StatusNotFound},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed},
	{tether.ECONFLICT, http.StatusConflict},
	{tether.ETOOLARGE, http.StatusRequestEntityTooLarge},
	{tether.ERATELIMITED, http.StatusTooManyRequests},
	{tether.EINTERNAL, http.StatusInternalServerError},
	{tether.EUNAVAILABLE, http.StatusServiceUnavailable},
	{tether.EOVERLOADED, http.StatusServiceUnavailable},
	{tether.EDEGRADED, http.StatusServiceUnavailable},
}

// Codes lists every code a problem document may carry.
func Codes() []string {
	out := make([]string, len(table))
	for i, r := range table {
		out[i] = r.code
	}
	return out
}

// Status is the HTTP status of an error code; 500 for a code not in the table.
func Status(code string) int {
	for _, r := range table {
		if r.code == code {
			return r.status
		}
	}
	return http.StatusInternalServerError
}

// Code is the error code of an HTTP status, for a response that carries no
// problem document (a proxy's error page, say). Statuses outside the table
// are read by class: a gateway's 502 or 504 means a dependency is down,
// other 5xx are internal, other 4xx invalid.
func Code(status int) string {
	for _, r := range table {
		if r.status == status {
			return r.code
		}
	}
	switch {
	case status == http.StatusBadGateway, status == http.StatusGatewayTimeout:
		return tether.EUNAVAILABLE
	case status >= 500:
		return tether.EINTERNAL
	default:
		return tether.EINVALID
	}
}

// New builds the problem document for an error code and a caller-safe
// detail. A code not in the table becomes an internal error, so that a code
// without a mapping never reaches a client with a wrong status.
func New(code, detail string) Problem {
	status := Status(code)
	if status == http.StatusInternalServerError {
		code = tether.EINTERNAL
	}
	return Problem{
		Type:   TypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}
