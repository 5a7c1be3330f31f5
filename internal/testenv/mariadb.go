package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MariaDB is a private mariadbd for one test: its own data directory and
// port, so the test may kill, restart or stall it without touching the
// shared server other tests use. It runs without grant tables (any user,
// no password) and is killed when the test ends.
type MariaDB struct {
	t      testing.TB
	bin    string
	dir    string // the data directory and the server's log, socket and pid file
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// mariadbdPaths are where Debian's mariadb-server (deployments/local/services.sh
// installs it) puts the server binary.
var mariadbdPaths = []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"}

// StartMariaDB starts a private mariadbd on a free loopback port and waits
// until it answers.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	bin := ""
	for _, p := range mariadbdPaths {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if p, err := exec.LookPath("mariadbd"); err == nil {
			bin = p
		} else {
			t.Fatalf("testenv: no mariadbd (run deployments/local/services.sh, which installs mariadb-server)")
		}
	}
	dir, err := os.MkdirTemp("", "tether-mariadb-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	m := &MariaDB{t: t, bin: bin, dir: dir, port: freePort(t)}
	t.Cleanup(func() {
		m.Kill()
		_ = os.RemoveAll(dir)
	})
	// A data directory whose server was killed before its first checkpoint
	// cannot be recovered (the system tablespace header was never written),
	// so the first start ends with a clean shutdown: after that, Kill is a
	// crash InnoDB recovers from.
	m.Start()
	m.Stop()
	m.Start()
	return m
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (m *MariaDB) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// Server is the DSN of the server without a database name, as MySQLServer.
func (m *MariaDB) Server() string { return "root@tcp(" + m.Addr() + ")/" }

// Database creates an empty database on this server and returns its DSN
// (gorm-ready, like MySQL's).
func (m *MariaDB) Database(t testing.TB) string {
	t.Helper()
	db, err := sql.Open("mysql", m.Server())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer db.Close()
	name := Name("tether_p_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("testenv: create database on the private mariadbd: %v", err)
	}
	return m.Server() + name + "?parseTime=true&loc=UTC&multiStatements=true"
}

// Start starts the server (again, after Kill or Stop) on the same data
// directory and port, and waits until it answers queries.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.t.Fatalf("testenv: mariadbd is already running")
	}
	logf, err := os.OpenFile(filepath.Join(m.dir, "mariadbd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatalf("testenv: %v", err)
	}
	defer logf.Close()
	args := []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(m.dir, "data"),
		"--socket=" + filepath.Join(m.dir, "mariadbd.sock"),
		"--pid-file=" + filepath.Join(m.dir, "mariadbd.pid"),
		"--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(m.port),
		"--skip-grant-tables",
		"--skip-name-resolve",
		"--skip-log-bin",
		"--performance-schema=0",
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=16M",
		"--open-files-limit=2048",
		"--max-connections=200",
	}
	if os.Getuid() == 0 {
		args = append(args, "--user=root") // mariadbd refuses to run as root unless told to
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("testenv: start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	if err := m.waitReady(exited, 60*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(m.dir, "mariadbd.log"))
		m.t.Fatalf("testenv: private mariadbd on %s: %v\n%s", m.Addr(), err, tail(log, 2000))
	}
}

// waitReady polls until the server answers a query, it exits, or timeout.
func (m *MariaDB) waitReady(exited <-chan struct{}, timeout time.Duration) error {
	db, err := sql.Open("mysql", m.Server()+"?timeout=1s")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := db.ExecContext(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mariadbd exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pause stalls the server (SIGSTOP): it keeps its connections and port
// but answers nothing until Resume, like a host that froze or a network
// that drops every packet.
func (m *MariaDB) Pause() { m.send(syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (m *MariaDB) Resume() { m.send(syscall.SIGCONT) }

func (m *MariaDB) send(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit.
func (m *MariaDB) Stop() { m.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. Clients' connections are reset. Killing a stopped server does nothing.
func (m *MariaDB) Kill() { m.signal(syscall.SIGKILL) }

func (m *MariaDB) signal(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a paused server must run to act on SIGTERM
	<-m.exited
	m.cmd, m.exited = nil, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
