package drill

// The drill kills and restarts the database and Redis, so it must own
// them: a mariadbd with its own data directory and a redis-server, on
// spare loopback ports, never the machine's shared instances.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/loadgen"
)

// findBinary returns the first of names found on PATH or in the system
// directories a package puts servers in (not always on a user's PATH).
func findBinary(names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/bin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("drill: none of %v installed (deployments/local/services.sh installs them)", names)
}

// startMariaDB initialises a data directory under dir and starts mariadbd
// on port. Root has no password and is reachable over TCP from 127.0.0.1
// only. Commits are written to the OS at once but flushed to disk once a
// second (innodb_flush_log_at_trx_commit=2): durable against the process
// crash the drill inflicts, not against a machine crash, and far cheaper
// on a shared disk.
func startMariaDB(ctx context.Context, dir string, port int) (*loadgen.Process, error) {
	server, err := findBinary("mariadbd", "mysqld")
	if err != nil {
		return nil, err
	}
	install, err := findBinary("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "mysql")
	common := []string{"--no-defaults", "--datadir=" + data, "--innodb-log-file-size=16M"}
	if os.Geteuid() == 0 {
		common = append(common, "--user=root") // mariadbd refuses root otherwise
	}
	args := append(append([]string(nil), common...), "--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("drill: %s: %w\n%s", install, err, out)
	}
	args = append(append([]string(nil), common...),
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--socket="+filepath.Join(dir, "mysqld.sock"), "--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--innodb-flush-log-at-trx-commit=2", "--innodb-buffer-pool-size=64M", "--max-connections=1000",
		"--skip-log-bin",
	)
	dsn := "root@tcp(127.0.0.1:" + strconv.Itoa(port) + ")/"
	return loadgen.StartProcess(ctx, loadgen.ProcessSpec{
		Name: "mariadbd", Exe: server, Args: args, LogFile: filepath.Join(dir, "mariadbd.log"),
		Ready: func(ctx context.Context) error { return pingMySQL(ctx, dsn) },
	})
}

func pingMySQL(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// startRedis starts a redis-server on port that keeps nothing on disk, so
// that a restart after kill -9 starts empty.
func startRedis(ctx context.Context, dir string, port int) (*loadgen.Process, error) {
	server, err := findBinary("redis-server")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return loadgen.StartProcess(ctx, loadgen.ProcessSpec{
		Name: "redis-server", Exe: server,
		Args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--protected-mode", "no", "--maxclients", "4000"},
		LogFile: filepath.Join(dir, "redis.log"),
		Ready: func(ctx context.Context) error {
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer rdb.Close()
			return rdb.Ping(ctx).Err()
		},
	})
}
