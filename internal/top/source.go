package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tetherim/tether/shared/live"
)

// Source is where top reads the table: a process's admin address, or the
// cluster's Redis.
type Source interface {
	// Node returns the newest seconds of one process, oldest first.
	Node(ctx context.Context, last int) (live.History, error)
	// Cluster returns the newest second of every process and their sum.
	Cluster(ctx context.Context) (live.ClusterView, error)
}

// Admin reads a process's admin address (GET /live, GET /live/cluster).
type Admin struct {
	Base   string // e.g. http://127.0.0.1:9090
	Client *http.Client
}

// Node implements Source.
func (a Admin) Node(ctx context.Context, last int) (live.History, error) {
	var h live.History
	err := a.get(ctx, fmt.Sprintf("/live?last=%d", last), &h)
	return h, err
}

// Cluster implements Source.
func (a Admin) Cluster(ctx context.Context) (live.ClusterView, error) {
	var v live.ClusterView
	err := a.get(ctx, "/live/cluster", &v)
	return v, err
}

func (a Admin) get(ctx context.Context, path string, v any) error {
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.Base, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, p.Detail)
	}
	return json.Unmarshal(b, v)
}

// Redis reads the cluster from the Redis every process publishes to.
type Redis struct{ R *live.Redis }

// Node implements Source: one process's newest second, from the cluster.
func (r Redis) Node(ctx context.Context, _ int) (live.History, error) {
	return live.History{}, errNodeFromRedis
}

// Cluster implements Source.
func (r Redis) Cluster(ctx context.Context) (live.ClusterView, error) { return r.R.Cluster(ctx) }

var errNodeFromRedis = errors.New("Redis holds each process's newest second only; read one process with --admin or pick it with --node")
