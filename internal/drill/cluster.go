// Package drill is `tether drill`: the regular fault drills of a Tether
// cluster. It starts a small cluster of real processes (two `tether api`
// with their relays, two `tether push`, and a MariaDB and a Redis of its
// own), drives online users who send 1:1 and group messages over REST and
// receive them on raw checking clients, injects one fault at a time under
// that load (process kills, hot restart, drain, and latency, resets and
// blackholes on the cluster's links) and checks every frame and the
// database: nothing lost, duplicated, reordered or delivered to the wrong
// user. See docs/drill.md.
package drill

// cluster.go starts the processes and wires every link a fault may hit
// through a proxy (links.go).

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // the truth is read from MariaDB

	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/shared/token"
)

// dbName is the database the drill's own MariaDB holds Tether's schema in.
const dbName = "tether"

// cluster is the drill's processes and links.
type cluster struct {
	cfg   Config
	dir   string
	links *links

	mysql     *loadgen.Process
	redis     *loadgen.Process
	mysqlPort int
	redisAddr string
	dsn       string // straight to MariaDB (migrate, the checker), not through a link

	key      ed25519.PrivateKey
	apis     []*apiProc
	nodes    []*nodeProc
	prefix   string
	targeted bool // a running cluster (target.go): no processes of the drill's own
}

type apiProc struct {
	name string
	url  string // the clients' link in front of the API
	proc *loadgen.Process
}

type nodeProc struct {
	id     string
	addr   string // clients connect here: the client link in front of the node
	socket string // upgrade socket (hot restart)
	proc   *loadgen.Process
}

// timings of the processes, short so that the drill sees failures fast.
const (
	nodeTTL       = 6 * time.Second
	drainWindow   = 2 * time.Second
	shutdownGrace = 5 * time.Second
)

// startCluster starts everything under dir. The caller closes it.
func startCluster(ctx context.Context, cfg Config, dir string) (_ *cluster, err error) {
	c := &cluster{cfg: cfg, dir: dir, links: newLinks(), prefix: "drill:"}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	ports, err := loadgen.FreePorts(10)
	if err != nil {
		return nil, err
	}
	c.mysqlPort, c.redisAddr = ports[0], "127.0.0.1:"+strconv.Itoa(ports[1])
	cfg.progress("starting MariaDB (port %d) and Redis (%s) of the drill's own in %s", c.mysqlPort, c.redisAddr, dir)
	if c.mysql, err = startMariaDB(ctx, filepath.Join(dir, "db"), c.mysqlPort); err != nil {
		return nil, err
	}
	if c.redis, err = startRedis(ctx, filepath.Join(dir, "db"), ports[1]); err != nil {
		return nil, err
	}
	server := "root@tcp(127.0.0.1:" + strconv.Itoa(c.mysqlPort) + ")/"
	if err := createDB(ctx, server); err != nil {
		return nil, err
	}
	c.dsn = server + dbName
	mig := exec.CommandContext(ctx, cfg.Exe, "migrate", "--mysql", c.dsn)
	mig.Env = append(os.Environ(), "TETHER_LOG_LEVEL=warn")
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("drill: tether migrate: %w\n%s", err, out)
	}
	pub, priv, err := token.GenerateKey()
	if err != nil {
		return nil, err
	}
	c.key = priv

	// Every link first, so that faults can be toggled on any of them.
	for i := range 2 {
		name := fmt.Sprintf("api-%d", i+1)
		mysqlLink, err := c.links.add("mysql/"+name, "127.0.0.1:"+strconv.Itoa(c.mysqlPort))
		if err != nil {
			return nil, err
		}
		redisLink, err := c.links.add("redis/"+name, c.redisAddr)
		if err != nil {
			return nil, err
		}
		http, admin := "127.0.0.1:"+strconv.Itoa(ports[2+2*i]), "127.0.0.1:"+strconv.Itoa(ports[3+2*i])
		env := append(os.Environ(),
			"TETHER_HTTP_ADDR="+http, "TETHER_ADMIN_ADDR="+admin,
			"TETHER_MYSQL_DSN=root@tcp("+mysqlLink+")/"+dbName,
			"TETHER_TOKEN_PRIVATE_KEY="+token.EncodePrivate(priv),
			"TETHER_ACCESS_TTL=2h",
			"TETHER_REDIS_ADDR="+redisLink, "TETHER_REDIS_PREFIX="+c.prefix,
			"TETHER_SHUTDOWN_TIMEOUT=5s",
			"TETHER_LOG_LEVEL="+cfg.LogLevel,
		)
		p, err := loadgen.StartProcess(ctx, loadgen.ProcessSpec{
			Name: name, Exe: cfg.Exe, Args: []string{"api"}, Env: env, AdminAddr: admin,
			LogFile: filepath.Join(dir, "logs", name+".log"),
		})
		if err != nil {
			return nil, err
		}
		restLink, err := c.links.add("rest/"+name, http)
		if err != nil {
			return nil, err
		}
		c.apis = append(c.apis, &apiProc{name: name, url: "http://" + restLink, proc: p})
	}
	for i := range 2 {
		id := fmt.Sprintf("push-%d", i+1)
		redisLink, err := c.links.add("redis/"+id, c.redisAddr)
		if err != nil {
			return nil, err
		}
		tcp, admin := "127.0.0.1:"+strconv.Itoa(ports[6+2*i]), "127.0.0.1:"+strconv.Itoa(ports[7+2*i])
		clientLink, err := c.links.add("client/"+id, tcp)
		if err != nil {
			return nil, err
		}
		socket := filepath.Join(dir, id+".sock")
		hb := cfg.Heartbeat
		env := append(os.Environ(),
			"TETHER_NODE_ID="+id, "TETHER_TCP_ADDR="+tcp, "TETHER_ADVERTISE_TCP="+clientLink,
			"TETHER_ADMIN_ADDR="+admin,
			"TETHER_TOKEN_PUBLIC_KEY="+token.EncodePublic(pub),
			"TETHER_REDIS_ADDR="+redisLink, "TETHER_REDIS_PREFIX="+c.prefix,
			"TETHER_HEARTBEAT_INTERVAL="+hb.String(), "TETHER_IDLE_TIMEOUT="+(3*hb).String(),
			"TETHER_NODE_TTL="+nodeTTL.String(),
			"TETHER_DRAIN_WINDOW="+drainWindow.String(), "TETHER_SHUTDOWN_TIMEOUT="+shutdownGrace.String(),
			"TETHER_UPGRADE_SOCKET="+socket,
			"TETHER_LOG_LEVEL="+cfg.LogLevel,
		)
		p, err := loadgen.StartProcess(ctx, loadgen.ProcessSpec{
			Name: id, Exe: cfg.Exe, Args: []string{"push"}, Env: env, AdminAddr: admin,
			LogFile: filepath.Join(dir, "logs", id+".log"),
		})
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, &nodeProc{id: id, addr: clientLink, socket: socket, proc: p})
	}
	return c, nil
}

func createDB(ctx context.Context, server string) error {
	db, err := sql.Open("mysql", server)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+dbName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	return err
}

// hotRestart sends the node SIGUSR2 and follows it to its successor.
func (n *nodeProc) hotRestart(ctx context.Context) error {
	old, err := handoff.Owner(n.socket)
	if err != nil {
		return fmt.Errorf("drill: %s: upgrade socket: %w", n.id, err)
	}
	if err := n.proc.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if pid, err := handoff.Owner(n.socket); err == nil && pid != old {
			n.proc.Adopt(pid)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drill: %s was not taken over after SIGUSR2: %w\n%s", n.id, ctx.Err(), n.proc.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive reports the first process of the cluster that died unasked.
func (c *cluster) alive() error {
	var errs []error
	for _, p := range c.procs() {
		if p.Exited() {
			errs = append(errs, fmt.Errorf("drill: %s exited:\n%s", p.Name(), p.Log()))
		}
	}
	return errors.Join(errs...)
}

// procs are the processes the drill started (none for a target).
func (c *cluster) procs() []*loadgen.Process {
	var ps []*loadgen.Process
	for _, a := range c.apis {
		ps = append(ps, a.proc)
	}
	for _, n := range c.nodes {
		ps = append(ps, n.proc)
	}
	ps = append(ps, c.redis, c.mysql)
	out := ps[:0]
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// close stops every process (the servers first, the database last) and
// the links.
func (c *cluster) close() {
	for _, p := range c.procs() {
		if err := p.Stop(shutdownGrace + drainWindow + 5*time.Second); err != nil {
			c.cfg.progress("%v", err)
		}
	}
	c.links.close()
}
