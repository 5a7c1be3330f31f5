// Whose fault a failed unit of work was. A client's mistake (a bad frame, a
// 4xx, a duplicate username) says nothing about the server's health, so it
// is counted apart from server failures, and alerts watch only the latter.

package metrics

import (
	"context"
	"errors"
)

// Classes of failure: the class label of tether_errors_total.
const (
	ClassClient = "client" // the caller's mistake or choice: 4xx, bad frame, conflict, gave up
	ClassServer = "server" // ours or a dependency's: 5xx, a Redis or SQL error
)

type clientError struct{ err error }

func (e clientError) Error() string { return e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

// ClientError marks err as the caller's mistake, so the dispatch point counts
// it with class client rather than server. It returns nil for nil.
func ClientError(err error) error {
	if err == nil {
		return nil
	}
	return clientError{err}
}

// ClassOf tells the class of a non-nil error: client if it was marked with
// ClientError or the caller cancelled the work, server otherwise.
func ClassOf(err error) string {
	var c clientError
	if errors.As(err, &c) || errors.Is(err, context.Canceled) {
		return ClassClient
	}
	return ClassServer
}
