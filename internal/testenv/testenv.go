// Package testenv gives integration tests their own slice of the real MariaDB
// and Redis: a fresh database per test and a unique Redis key prefix, so
// tests run in parallel without seeing each other. The services are the ones
// `make test` makes sure are running (127.0.0.1:3306 and :6379 by default;
// override with TETHER_TEST_MYSQL and TETHER_TEST_REDIS). A test that kills or
// stalls the database starts a private server instead (StartMariaDB).
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver for database/sql
	"github.com/redis/go-redis/v9"
)

// MySQLServer is the DSN of the test server, without a database name.
func MySQLServer() string {
	if v := os.Getenv("TETHER_TEST_MYSQL"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// RedisAddr is the address of the test Redis.
func RedisAddr() string {
	if v := os.Getenv("TETHER_TEST_REDIS"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

// Name returns a short unique name with the given prefix, safe as a database
// name or a key prefix.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MySQL creates an empty database for this test, drops it when the test ends,
// and returns a DSN for it suitable for gorm's MySQL driver.
func MySQL(t testing.TB) string {
	t.Helper()
	server := MySQLServer()
	db, err := sql.Open("mysql", server)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := Name("tether_t_")
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("testenv: MariaDB at %s is not usable (run `make services`): %v", server, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", server)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
	})
	sep := "?"
	if strings.Contains(server, "?") {
		sep = "&"
	}
	base, params, _ := strings.Cut(server, "?")
	dsn := strings.TrimSuffix(base, "/") + "/" + name + sep + "parseTime=true&loc=UTC&multiStatements=true"
	if params != "" {
		dsn += "&" + params
	}
	return dsn
}

// Redis returns a client for the test Redis and a unique key prefix ending in
// ":"; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s is not usable (run `make services`): %v", RedisAddr(), err)
	}
	prefix := Name("tt") + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

// Eventually polls cond until it is true or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out: "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
