package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tetherim/tether"
)

// Discovery: with Config.Discover the client asks the API where to connect
// (GET /v1/push-nodes) before every connection, so it follows the nodes a
// deployment adds, drains and replaces. The answer is least loaded first
// and never names a draining or hot-restarting node. Config.PushAddr and
// PushAddrs stay the fallback: they follow the discovered nodes in the
// rotation, and are all there is while the API cannot answer.

// discoverTimeout bounds one discovery request: a slow API must not hold
// up a reconnect that the known addresses could serve.
const discoverTimeout = 5 * time.Second

// PushNodes returns up to limit (1 to tether.MaxPushNodes) push nodes that
// take new connections, least loaded first.
func (a *API) PushNodes(ctx context.Context, access string, limit int) ([]tether.PushNode, error) {
	var out struct {
		Nodes []tether.PushNode `json:"nodes"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/v1/push-nodes?limit="+strconv.Itoa(limit), access, nil, &out); err != nil {
		return nil, err
	}
	return out.Nodes, nil
}

// discover refreshes the address list from the API. avoid is the address
// the last connection used, if it ended badly: a node that just failed the
// client goes last, even if the registry still lists it first (its status
// is a heartbeat old). A failure keeps the list as it is.
func (c *Client) discover(ctx context.Context, avoid string) {
	tok, err := c.sess.access(ctx)
	if err != nil {
		return // connectOnce meets the same error and handles it
	}
	dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	nodes, err := c.api.PushNodes(dctx, tok, tether.DefaultPushNodes)
	if err != nil {
		c.log.Warn("tether client: push node discovery failed; using the addresses known", "err", err, "next", c.addrs.current())
		return
	}
	found := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if c.cfg.WebSocket && n.WS != "" {
			found = append(found, n.WS)
		} else if !c.cfg.WebSocket {
			found = append(found, n.TCP)
		}
	}
	c.addrs.discovered(found, avoid)
}
