package store

import (
	"context"
	stdsql "database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/tetherim/tether"
)

// A database that is down, restarting, overloaded or failing over is not a
// fault of ours: clients get 503 unavailable with Retry-After, and retry.
// Such errors are classified here, in one place: every error gorm reports
// (statements, Begin, Commit) passes through the dialector's Translate
// (gorm.Config.TranslateError), which outageDialector extends. The driver's
// error stays the cause, for the log and for the transaction retry of
// deadlocks.

// retryAfterOutage is the Retry-After of a database outage: short, since
// most outages (a restart, a failover, a dropped connection) last seconds,
// and clients back off on their own.
const retryAfterOutage = time.Second

// errDBUnavailable is the domain error every database outage maps to.
var errDBUnavailable = &tether.Error{
	Code:       tether.EUNAVAILABLE,
	Message:    "The database is unavailable; retry later.",
	RetryAfter: retryAfterOutage,
}

// outageError is a driver error classified as an outage: it is
// errDBUnavailable to errors.As and keeps its cause.
type outageError struct{ cause error }

func (e *outageError) Error() string   { return "database unavailable: " + e.cause.Error() }
func (e *outageError) Unwrap() []error { return []error{errDBUnavailable, e.cause} }

// outageDialector is a gorm dialector whose error translation also
// classifies outages.
type outageDialector struct{ gorm.Dialector }

var (
	_ gorm.ErrorTranslator               = outageDialector{}
	_ gorm.SavePointerDialectorInterface = outageDialector{}
)

// Translate applies the driver's own translation (duplicate keys, ...),
// then marks outages.
func (d outageDialector) Translate(err error) error {
	if t, ok := d.Dialector.(gorm.ErrorTranslator); ok {
		err = t.Translate(err)
	}
	return classifyOutage(err)
}

// SavePoint and RollbackTo keep nested transactions working through the wrapper.
func (d outageDialector) SavePoint(tx *gorm.DB, name string) error {
	return d.Dialector.(gorm.SavePointerDialectorInterface).SavePoint(tx, name)
}

func (d outageDialector) RollbackTo(tx *gorm.DB, name string) error {
	return d.Dialector.(gorm.SavePointerDialectorInterface).RollbackTo(tx, name)
}

// classifyOutage wraps err in an outageError if it says the database is
// unavailable rather than that the request or our code is wrong.
func classifyOutage(err error) error {
	var oe *outageError
	if err == nil || errors.As(err, &oe) || !isOutage(err) {
		return err
	}
	return &outageError{cause: err}
}

// isOutage reports connection failures (refused, reset, dropped mid-query:
// "invalid connection", driver.ErrBadConn), timeouts, a server shutting
// down, out of connections or read-only (failover), and lock waits and
// deadlocks (which tx retries first).
func isOutage(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, stdsql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1053,                   // server shutdown in progress
			1152,                   // aborted connection
			1158, 1159, 1160, 1161, // network read/write errors and timeouts
			1203, // user has too many connections
			1205, // lock wait timeout
			1213, // deadlock
			1290, // --read-only (a replica during failover)
			1317, // query interrupted
			1792, // read-only transaction
			1836, // read-only mode
			1927, // connection killed (MariaDB)
			1969, // max_statement_time exceeded (MariaDB)
			3024: // max_execution_time exceeded (MySQL)
			return true
		}
		return false
	}
	var se *gosqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == 5 || code == 6 // SQLITE_BUSY, SQLITE_LOCKED: the lock wait timed out
	}
	return false
}
