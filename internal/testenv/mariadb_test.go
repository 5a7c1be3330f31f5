package testenv

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// The private server is a real one: what it committed survives a kill -9
// and a restart on the same port, and while it is down nothing answers.
func TestStartMariaDB_CommittedDataSurvivesKillAndRestart(t *testing.T) {
	t.Parallel()
	m := StartMariaDB(t)
	dsn := m.Database(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("a killed server answered")
	}
	m.Start()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the restart: %d rows, %v", n, err)
	}
}
