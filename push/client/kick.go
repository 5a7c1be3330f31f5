package client

import (
	"fmt"

	"github.com/tetherim/tether/push/wire"
)

// KickedError is returned by Run when the server ended the session on
// purpose with a Kick frame: a newer session of the user replaced this one
// under the server's multi-device policy (Code wire.CodeReplaced, e.g. a new
// login on the same platform), or the login session was revoked
// (wire.CodeRevoked), or an operator kicked the user (wire.CodeKicked). Run does not reconnect after a kick, so two devices of
// one user never take turns replacing each other; the application decides
// what to do, e.g. tell the user "signed in on another device" and offer to
// reconnect by calling Run again (which then replaces the other session).
type KickedError struct {
	Code   wire.Code
	Reason string // the server's text, for logs; branch on Code
}

func (e *KickedError) Error() string {
	return fmt.Sprintf("tether client: session ended by the server (%s): %s", e.Code, e.Reason)
}

// kicked turns a Kick frame into the error that stops Run.
func kicked(f wire.Frame) error {
	return fatalError{&KickedError{Code: f.Reason.Code, Reason: f.Reason.Text}}
}
