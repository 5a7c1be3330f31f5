// Package store implements Tether's tether.AuthService and tether.MessageService on
// gorm, over MySQL/MariaDB in production or SQLite in the embedded dev mode,
// and hands committed outbox rows to the relay (ClaimOutbox).
//
// The schema is owned by package migrations (sql/migrations, goose); Open never migrates.
package store

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/sql/migrations"
)

// Drivers accepted in Config.Driver.
const (
	DriverMySQL  = migrations.MySQL
	DriverSQLite = migrations.SQLite
)

// Config selects the database.
type Config struct {
	Driver string // "mysql" | "sqlite"
	// DSN is a go-sql-driver/mysql DSN ("user:pass@tcp(host:3306)/tether") or
	// a SQLite file path, optionally with driver parameters. Parameters the
	// store depends on (parseTime and UTC for MySQL; WAL, busy timeout,
	// foreign keys and immediate transactions for SQLite) are added.
	DSN string
	// MaxOpenConns caps MySQL connections (0: 64). The API sets it to its
	// bulkheads' share (internal/bulkhead): the sum of their workers.
	MaxOpenConns int
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	g       *gorm.DB
	sql     *stdsql.DB
	dialect string
}

// Open connects to the database and instruments every statement with m (may
// be nil). It does not migrate; call Migrate or CheckSchema.
func Open(ctx context.Context, cfg Config, m *metrics.Metrics) (*DB, error) {
	var dial gorm.Dialector
	memory := false
	switch cfg.Driver {
	case DriverMySQL:
		dsn, err := mysqlDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		dial = gormmysql.Open(dsn)
	case DriverSQLite:
		dsn, mem, err := sqliteDSN(cfg.DSN)
		if err != nil {
			return nil, err
		}
		memory = mem
		dial = sqlite.Open(dsn)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want %q or %q)", cfg.Driver, DriverMySQL, DriverSQLite)
	}
	g, err := gorm.Open(outageDialector{dial}, &gorm.Config{
		SkipDefaultTransaction: true,
		TranslateError:         true,
		Logger:                 logger.Discard,
		NowFunc:                now,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Driver, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Driver, err)
	}
	switch {
	case cfg.Driver == DriverMySQL:
		// As many idle as open: with fewer, every burst above the idle count
		// closes connections after use and dials them again (TCP, auth).
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = 64
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
	case memory:
		// Each connection to ":memory:" would be a database of its own.
		sqlDB.SetMaxOpenConns(1)
	default:
		// WAL lets readers run beside the one writer; writers queue on BEGIN IMMEDIATE.
		sqlDB.SetMaxOpenConns(8)
	}
	if m != nil {
		if err := instrument(g, m); err != nil {
			_ = sqlDB.Close()
			return nil, fmt.Errorf("store: instrument: %w", err)
		}
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: ping %s: %w", cfg.Driver, err)
	}
	return &DB{g: g, sql: sqlDB, dialect: cfg.Driver}, nil
}

// Dialect is "mysql" or "sqlite".
func (db *DB) Dialect() string { return db.dialect }

// Migrate brings the schema to the newest version this binary embeds.
func (db *DB) Migrate(ctx context.Context) error { return migrations.Migrate(ctx, db.sql, db.dialect) }

// MinSchema is the oldest schema version this binary's store runs on: the
// migration that introduced the newest table or column it reads or writes
// (8: auth_sessions.app_version). Raise it with every migration whose
// tables or columns the store starts using; sql/migrations/README.md.
const MinSchema = 8

// CheckSchema fails unless the schema is in this binary's window: at least
// MinSchema, and any newer migration declared compatible with it
// (migrations.CheckWindow).
func (db *DB) CheckSchema(ctx context.Context) error {
	return migrations.CheckWindow(ctx, db.sql, db.dialect, MinSchema)
}

// MigrateTo applies the embedded migrations up to version; tests use it to
// run the store on the oldest schema of its window.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	return migrations.MigrateTo(ctx, db.sql, db.dialect, version)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// now is the store's clock: UTC at millisecond precision, which both dialects
// store exactly, so a value read back equals the value written.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func mysqlDSN(dsn string) (string, error) {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("store: bad MySQL DSN: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	if !strings.Contains(dsn, "interpolateParams=") {
		// Placeholders are filled in by the driver: one round trip per
		// statement instead of prepare, execute and close. A send runs about
		// a dozen statements, so this is most of its database time. Safe
		// with utf8mb4, the only charset the schema uses.
		c.InterpolateParams = true
	}
	if c.Timeout == 0 {
		// A database behind a blackhole (a dead host, a partition) would
		// otherwise hold each new connection for the kernel's connect
		// timeout, minutes; with this the request fails as unavailable
		// (503) in seconds.
		c.Timeout = defaultDialTimeout
	}
	return c.FormatDSN(), nil
}

// defaultDialTimeout bounds connecting to MySQL unless the DSN's timeout
// parameter says otherwise.
const defaultDialTimeout = 5 * time.Second

// sqliteDSN adds the parameters the store relies on unless the DSN sets them.
// memory reports an in-memory database.
func sqliteDSN(dsn string) (out string, memory bool, err error) {
	if strings.TrimSpace(dsn) == "" {
		return "", false, errors.New("store: empty SQLite DSN (want a file path)")
	}
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("store: bad SQLite DSN parameters: %w", err)
	}
	memory = strings.Contains(base, ":memory:") || q.Get("mode") == "memory"
	pragmas := strings.Join(q["_pragma"], ",")
	addPragma := func(name, value string) {
		if !strings.Contains(strings.ToLower(pragmas), name) {
			q.Add("_pragma", name+"("+value+")")
		}
	}
	addPragma("busy_timeout", "10000")
	addPragma("foreign_keys", "1")
	if !memory {
		addPragma("journal_mode", "WAL")
		addPragma("synchronous", "NORMAL")
	}
	if q.Get("_txlock") == "" {
		// Every write transaction takes the write lock up front, so two
		// writers never both read and then deadlock upgrading their locks.
		q.Set("_txlock", "immediate")
	}
	// go-sqlite ignores _txlock when _time_format is set, and its default
	// time format is already the "sqlite" one.
	q.Del("_time_format")
	return base + "?" + q.Encode(), memory, nil
}

// txOptions makes MySQL transactions READ COMMITTED: every lock the store
// needs is an explicit row lock, and the gap locks of REPEATABLE READ would
// only make inserts into outbox wait for a relay's claim.
func (db *DB) txOptions() *stdsql.TxOptions {
	if db.dialect == DriverMySQL {
		return &stdsql.TxOptions{Isolation: stdsql.LevelReadCommitted}
	}
	return nil
}

// tx runs fn in a transaction, retrying it a few times when the database
// chose it as a deadlock victim or it timed out waiting for a lock. fn must
// not keep state across attempts.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	const attempts = 5
	for i := 1; ; i++ {
		err := db.g.WithContext(ctx).Transaction(fn, db.txOptions())
		if err == nil || i == attempts || !retryable(err) {
			return err
		}
		backoff := time.Duration(i*i)*5*time.Millisecond + rand.N(5*time.Millisecond)
		select {
		case <-ctx.Done():
			return classifyOutage(ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// retryable reports errors after which running the same transaction again
// may succeed.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	var se *gosqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == 5 || code == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// errNoAccount refuses a write by a caller whose user id has no account
// row: an access token signed with the deployment's key for a user that
// was never registered here. The rows it would write (a timeline head, a
// group, a contact) refer to the account, so their foreign keys refuse
// them, and that is no server fault.
var errNoAccount = tether.Errorf(tether.EFORBIDDEN, "the caller has no account here; register the user first")

// orNoAccount turns a foreign-key refusal into errNoAccount.
func orNoAccount(err error) error {
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return errNoAccount
	}
	return err
}
