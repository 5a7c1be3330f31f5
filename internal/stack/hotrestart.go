package stack

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push"
)

// Hot restart of `tether push` (see push/hotrestart.go for the node's part):
// the running process starts a new one of the binary with WithTakeover,
// which receives the client listeners, every live connection and the admin
// listener over the node's upgrade socket; then the old process releases
// what is left (Stop, which does not drain after a handoff) and exits.

// WithTakeover makes StartPush take over the node running on the
// configured upgrade socket instead of binding its addresses: the client
// listeners, the admin listener and every live connection move to this
// process. StartPush fails if no node of the same id answers there.
func WithTakeover() Option { return func(o *options) { o.takeover = true } }

// hotRestartConfig is the part of push.Config about hot restarts.
type hotRestartConfig struct {
	socket   string // empty: no hot restart (tether dev)
	takeover bool
	timeout  time.Duration
}

func hotRestart(cfg config.PushConfig, takeover bool) hotRestartConfig {
	return hotRestartConfig{socket: cfg.UpgradeSocketPath(), takeover: takeover, timeout: cfg.UpgradeTimeout}
}

// listenAdmin serves the admin endpoints on the listener a hot restart
// handed over, or on a new one at addr, and shares it with node, so that
// the next hot restart hands it over too: the admin port never refuses a
// probe while the node moves.
func listenAdmin(node *push.Node, addr string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := node.InheritedListener("admin")
	if err != nil {
		return nil, err
	}
	var s *httpServer
	if ln != nil {
		s = serveHTTPOn("admin", ln, h, log)
	} else if s, err = listenHTTP("admin", addr, h, log); err != nil {
		return nil, err
	}
	if err := node.ShareListener("admin", s.ln); err != nil {
		closeQuietly(s.ln)
		return nil, err
	}
	return s, nil
}

// Upgrade hot-restarts the node: start must start a new process of the
// binary that runs StartPush with WithTakeover. It returns once the new
// process has taken over (then HandedOver is closed and Stop only releases
// this process's resources), or with an error, when this process keeps
// serving; ctx bounds the wait.
func (p *Push) Upgrade(ctx context.Context, start func() (*os.Process, error)) error {
	return p.node.Upgrade(ctx, start)
}

// HandedOver is closed once a new process has taken the node over; this
// process should then Stop and exit.
func (p *Push) HandedOver() <-chan struct{} { return p.node.HandedOver() }

func (p *Push) handedOver() bool {
	select {
	case <-p.node.HandedOver():
		return true
	default:
		return false
	}
}

// release frees what a handed-over process still holds: its copy of the
// admin listener (the new process serves on it), in-flight admin requests,
// and Redis. No client, route or job is touched: they belong to the new
// process.
func (p *Push) release(ctx context.Context) error {
	errs := []error{p.admin.shutdown(ctx)}
	p.run.wait()
	errs = append(errs, p.rdb.Close())
	p.log.Info("push released after a hot restart", "node", p.NodeID)
	return errors.Join(errs...)
}
