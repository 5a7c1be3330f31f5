package config

import (
	"log/slog"
	"strings"
)

// MigrateConfig configures `tether migrate`, which applies the schema
// migrations this binary carries to a MySQL or SQLite database.
type MigrateConfig struct {
	Log Log

	MySQLDSN   string
	SQLitePath string
}

func (c *MigrateConfig) declare() *Set {
	s := NewSet("migrate")
	s.DSNString(&c.MySQLDSN, "mysql", "TETHER_MYSQL_DSN", "", "MySQL/MariaDB DSN to migrate, e.g. tether:secret@tcp(db:3306)/tether.")
	s.String(&c.SQLitePath, "sqlite", "TETHER_SQLITE_PATH", "", "SQLite database file to migrate instead (created if missing).")
	c.Log.declare(s, "info")
	return s
}

// MigrateSettings lists the settings of `tether migrate`, for help and documentation.
func MigrateSettings() *Set { return new(MigrateConfig).declare() }

// LoadMigrate fills a MigrateConfig from args and getenv, and validates it.
func LoadMigrate(args []string, getenv func(string) string) (MigrateConfig, error) {
	var c MigrateConfig
	if err := c.declare().Parse(args, getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate requires exactly one of the two databases.
func (c MigrateConfig) Validate() error {
	ck := &checker{set: c.declare()}
	switch {
	case c.MySQLDSN == "" && c.SQLitePath == "":
		ck.failf(&c.MySQLDSN, "one of --mysql or --sqlite is required")
	case c.MySQLDSN != "" && c.SQLitePath != "":
		ck.failf(&c.MySQLDSN, "give only one of --mysql and --sqlite")
	case c.MySQLDSN != "" && !strings.Contains(c.MySQLDSN, "/"):
		ck.failf(&c.MySQLDSN, "is not a MySQL DSN (want user:password@tcp(host:3306)/dbname)")
	}
	c.Log.check(ck)
	return ck.err()
}

// LogValue prints the configuration with secrets masked.
func (c MigrateConfig) LogValue() slog.Value { return c.declare().LogValue() }
