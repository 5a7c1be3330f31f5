package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/tetherim/tether"
)

func TestClassifyOutage_DependencyFailuresAreUnavailableOthersKeepTheirCode(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"invalid connection", mysql.ErrInvalidConn, tether.EUNAVAILABLE},
		{"bad connection", fmt.Errorf("store: send: %w", driver.ErrBadConn), tether.EUNAVAILABLE},
		{"connection reset", reset, tether.EUNAVAILABLE},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, tether.EUNAVAILABLE},
		{"timeout", context.DeadlineExceeded, tether.EUNAVAILABLE},
		{"deadlock", &mysql.MySQLError{Number: 1213}, tether.EUNAVAILABLE},
		{"lock wait timeout", &mysql.MySQLError{Number: 1205}, tether.EUNAVAILABLE},
		{"too many connections", &mysql.MySQLError{Number: 1040}, tether.EUNAVAILABLE},
		{"read-only replica", &mysql.MySQLError{Number: 1290}, tether.EUNAVAILABLE},
		{"server shutting down", &mysql.MySQLError{Number: 1053}, tether.EUNAVAILABLE},
		{"syntax error", &mysql.MySQLError{Number: 1064}, tether.EINTERNAL},
		{"no such table", &mysql.MySQLError{Number: 1146}, tether.EINTERNAL},
		{"a bug", errors.New("store: something is wrong"), tether.EINTERNAL},
		{"not found", gorm.ErrRecordNotFound, tether.EINTERNAL},
		{"canceled by the client", context.Canceled, tether.EINTERNAL},
	} {
		err := fmt.Errorf("store: send: %w", classifyOutage(c.err))
		if got := tether.ErrorCode(err); got != c.want {
			t.Errorf("%s: code %q, want %q", c.name, got, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: the cause is lost: %v", c.name, err)
		}
	}
	// The transaction retry still sees a deadlock through the classification.
	if !retryable(classifyOutage(&mysql.MySQLError{Number: 1213})) {
		t.Error("a classified deadlock is no longer retried")
	}
	var e *tether.Error
	if !errors.As(classifyOutage(mysql.ErrInvalidConn), &e) || e.RetryAfter <= 0 {
		t.Errorf("an outage carries no Retry-After: %+v", e)
	}
}
