package store

import (
	"fmt"
	"time"

	"github.com/tetherim/tether"
)

// pushSideRetry is the Retry-After of a request whose database write is
// done but whose copy for push nodes (in Redis) failed.
const pushSideRetry = time.Second

// pushSideUnavailable is the error of such a request: 503 unavailable, so the
// client sends the same (idempotent) request again, which writes the copy
// again. done says what the database already holds; cause is logged.
func pushSideUnavailable(done string, cause error) error {
	e := &tether.Error{Code: tether.EUNAVAILABLE, Message: done + ", but push nodes could not be told yet; retry.", RetryAfter: pushSideRetry}
	return fmt.Errorf("tell push nodes: %w: %w", e, cause)
}
