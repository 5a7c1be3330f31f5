package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
)

// MaxBodyBytes caps a request body. A message's content is at most
// tether.MaxContentBytes; the rest is headroom for the envelope.
const MaxBodyBytes = 64 << 10

// MaxPushBatchBodyBytes caps the body of POST /v1/push/batch: 500 pushes
// of up to 1,000 user ids and a 4 KiB payload each would not fit in
// MaxBodyBytes.
const MaxPushBatchBodyBytes = 8 << 20

// bodyLimit is the body cap of the request's route.
func bodyLimit(c *gin.Context) int64 {
	if c.FullPath() == "/v1/push/batch" {
		return MaxPushBatchBodyBytes
	}
	return MaxBodyBytes
}

// RouteBudget is the time after which a request counts as slow.
const RouteBudget = 250 * time.Millisecond

// Keys of values handlers leave on the gin context for the middleware.
const (
	ctxProblemCode = "tether.problem_code"
	ctxCaller      = "tether.caller"
)

// observe passes every request through the metrics dispatch point and logs
// one line for it: Debug when it went fine or was the client's fault, Warn
// when a dependency was unavailable, Error for our faults. A 4xx counts as a
// client error, a 5xx as a server error. The request id goes into both
// lines and, through the context, into those of its slow SQL and Redis calls.
func (s *Server) observe(c *gin.Context) {
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	start := time.Now()
	rid := slog.String("request_id", nextRequestID())
	c.Request = c.Request.WithContext(metrics.WithIDs(c.Request.Context(), rid))
	done := s.metrics.Begin(metrics.LayerHTTP, route, RouteBudget, rid, slog.Any("user_id", callerID{c}))
	// Deferred so that a panic passing through (http.ErrAbortHandler) still
	// balances the in-flight gauge.
	defer func() {
		status := c.Writer.Status()
		var err error
		switch {
		case status >= http.StatusInternalServerError:
			err = errors.New(http.StatusText(status))
			if last := c.Errors.Last(); last != nil {
				err = last.Err
			}
		case status >= http.StatusBadRequest:
			err = metrics.ClientError(errors.New(http.StatusText(status)))
		}
		done(err)

		level := slog.LevelDebug
		switch {
		case status == http.StatusServiceUnavailable && c.GetString(ctxProblemCode) == tether.EOVERLOADED:
			// A bulkhead shed it: tether_bulkhead_shed_total counts those,
			// and a line each would make a flood cost its logging too.
		case status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case status >= http.StatusInternalServerError:
			level = slog.LevelError
		}
		if !s.log.Enabled(c.Request.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("dur", time.Since(start)),
			rid,
		}
		if code := c.GetString(ctxProblemCode); code != "" {
			attrs = append(attrs, slog.String("code", code))
		}
		if caller, ok := c.Get(ctxCaller); ok {
			attrs = append(attrs, slog.Int64("user_id", caller.(tether.Caller).UserID))
		}
		if err != nil && status >= http.StatusInternalServerError {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		s.log.LogAttrs(context.WithoutCancel(c.Request.Context()), level, "http request", attrs...)
	}()
	c.Next()
}

// recoverPanic turns a panic in a handler into a 500 problem, so one bad
// request cannot take the process down or leave the client without an answer.
func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			// The handler chose to abort the connection; net/http handles it.
			panic(v)
		}
		s.log.Error("http panic", "route", c.FullPath(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		_ = c.Error(fmt.Errorf("panic: %v", v))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		writeProblem(c, tether.EINTERNAL, "Internal error.")
	}()
	c.Next()
}

// limitBody reads the request body up to MaxBodyBytes into memory, so that
// validation and decoding work on a bounded buffer and an oversized body is
// answered 413 (one that is not UTF-8, 400) before anything else looks at
// it. GET and HEAD bodies carry no meaning here and are ignored.
func limitBody(c *gin.Context) {
	r := c.Request
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil || r.Body == http.NoBody {
		r.Body = http.NoBody
		c.Next()
		return
	}
	limit := bodyLimit(c)
	if r.ContentLength > limit {
		writeProblem(c, tether.ETOOLARGE, fmt.Sprintf("The request body is over %d bytes.", limit))
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(c, tether.ETOOLARGE, fmt.Sprintf("The request body is over %d bytes.", limit))
			return
		}
		writeProblem(c, tether.EINVALID, "The request body could not be read.")
		return
	}
	if !utf8.Valid(b) {
		// Every body is JSON, which is UTF-8 (RFC 8259). Refused here,
		// before the spec validation's decoder would quietly turn the bad
		// bytes into U+FFFD.
		writeProblem(c, tether.EINVALID, "request body: "+invalidUTF8Detail(b))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	c.Next()
}

// deadline gives the request's context the server's request timeout, so
// the database and Redis calls of a request whose dependency stopped
// answering fail (503 unavailable, see fail) instead of waiting for ever.
func (s *Server) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.timeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}
