// Request ids tie a request's log line to the overrun lines of its slow SQL
// and Redis calls. A random per-process prefix and a counter: unique enough
// to find a request in one process's logs, and free on the hot path.

package rest

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

var (
	requestPrefix = func() string {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestSeq atomic.Uint64
)

func nextRequestID() string {
	return requestPrefix + "-" + strconv.FormatUint(requestSeq.Add(1), 10)
}

// callerID is the authenticated caller's user id, resolved only when an
// overrun line is logged (authentication runs after the request began);
// left out of the line for an anonymous request.
type callerID struct{ c *gin.Context }

func (v callerID) LogValue() slog.Value {
	if caller, ok := v.c.Get(ctxCaller); ok {
		return slog.Int64Value(caller.(tether.Caller).UserID)
	}
	return slog.GroupValue() // an empty group: handlers leave the key out
}
