// Connections the node closes with an Error frame, counted by code: a rise
// of slow_consumer means clients (or the network) cannot keep up with what
// the node sends; an alert watches it (deployments/prometheus/alerts.yml).

package push

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether/push/wire"
)

func newFailCounter(n *Node) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "tether_push_failed_closes_total",
		Help:        "Connections the node closed with an Error frame, by code (slow_consumer, unauthorized, ...).",
		ConstLabels: prometheus.Labels{"node": n.cfg.NodeID},
	}, []string{"code"})
	// Expose the alerting code from the start, so a rate over it is 0, not absent.
	c.WithLabelValues(wire.CodeSlowConsumer.String())
	return c, register(n.m, c)
}
