// The node's job stream backlog (shared/stream NodeBacklog) is measured
// once a second into two gauges: the per-second table's cmdq for this node.
// A node that falls behind its stream shows a growing lag long before its
// clients notice.

package push

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backlogEvery is how often the node measures its stream.
const backlogEvery = time.Second

// backlogGauges are tether_stream_lag and tether_stream_pending of this node.
type backlogGauges struct {
	lag, pending prometheus.Gauge
}

func newBacklogGauges(node string) backlogGauges {
	l := prometheus.Labels{"node": node}
	return backlogGauges{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_stream_lag", ConstLabels: l,
			Help: "Entries of the node's job stream not yet delivered to the node (at most shared/stream BacklogScanMax where Redis cannot tell)."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tether_stream_pending", ConstLabels: l,
			Help: "Entries of the node's job stream delivered to the node but not yet acked."}),
	}
}

// backlogLoop measures the node's stream until ctx ends. A failed
// measurement leaves the last values: Redis health is reported elsewhere.
func (n *Node) backlogLoop(ctx context.Context) {
	t := time.NewTicker(backlogEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mctx, cancel := context.WithTimeout(ctx, redisTimeout)
		b, err := n.streams.NodeBacklog(mctx, n.cfg.NodeID)
		cancel()
		if err != nil {
			continue
		}
		n.backlog.lag.Set(float64(b.Lag))
		n.backlog.pending.Set(float64(b.Pending))
	}
}
