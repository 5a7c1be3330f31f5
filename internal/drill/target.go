package drill

// A company may want to drill the cluster it already runs (a staging
// copy of production) rather than one the drill starts. The drill cannot
// kill or rewire processes it did not start, but it owns the clients'
// side: it puts its own proxies in front of the given APIs and push nodes,
// so the client-side faults (a node vanishing without FIN, latency and
// resets between clients and nodes, answers lost) and every check run
// against any cluster.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/tetherim/tether/shared/token"
)

// Target is a running cluster to drill instead of starting one.
type Target struct {
	APIs    []string // REST base URLs, e.g. http://10.0.0.5:8080 (two: senders move on after a failure)
	Nodes   []string // push nodes' client TCP addresses (two: clients move on after a failure)
	MySQL   string   // DSN of the cluster's database: the drill inserts its users there and reads the truth
	KeyFile string   // file with the token private key (base64 seed) the cluster verifies
}

// targetCluster describes t, with the drill's client links in front of its
// nodes.
func targetCluster(ctx context.Context, cfg Config, t Target) (_ *cluster, err error) {
	if len(t.APIs) == 0 || len(t.Nodes) < 2 || t.MySQL == "" || t.KeyFile == "" {
		return nil, errors.New("drill: a target needs its API URLs, two or more push node addresses, its MySQL DSN and its token key file")
	}
	b, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, err
	}
	key, err := token.ParsePrivate(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("drill: %s: %w", t.KeyFile, err)
	}
	if err := pingMySQL(ctx, t.MySQL); err != nil {
		return nil, fmt.Errorf("drill: target database: %w", err)
	}
	c := &cluster{cfg: cfg, links: newLinks(), key: key, dsn: t.MySQL, targeted: true}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	for i, raw := range t.APIs {
		name := fmt.Sprintf("api-%d", i+1)
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("drill: --api %q: want http://host:port (the drill proxies it; put TLS in front of the cluster, not between)", raw)
		}
		host := u.Host
		if u.Port() == "" {
			host += ":80"
		}
		link, err := c.links.add("rest/"+name, host)
		if err != nil {
			return nil, err
		}
		c.apis = append(c.apis, &apiProc{name: name, url: "http://" + link})
	}
	for i, addr := range t.Nodes {
		id := fmt.Sprintf("push-%d", i+1)
		link, err := c.links.add("client/"+id, addr)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, &nodeProc{id: id, addr: link})
	}
	return c, nil
}

// runID tells one drill's users from another's in a shared database.
func runID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
