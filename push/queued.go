// Bytes queued to clients whose sockets have not taken them yet are the
// push node's backlog (the table's cmdq): a client that reads slowly holds
// its frames here until it catches up or overflows MaxQueued. They are
// counted at collection (once a second for the live table, and at each
// scrape) by walking the connections, the way the deadline sweeper does,
// so the write path counts nothing.

package push

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// queuedCollector exports tether_push_queued_bytes and tether_push_queued_conns.
type queuedCollector struct {
	n       *Node
	bytes   *prometheus.Desc
	conns   *prometheus.Desc
	mu      sync.Mutex
	scratch []*conn // reused between collections; the table is copied under connMu, read after
}

func newQueuedCollector(n *Node) *queuedCollector {
	node := prometheus.Labels{"node": n.cfg.NodeID}
	return &queuedCollector{
		n: n,
		bytes: prometheus.NewDesc("tether_push_queued_bytes",
			"Bytes queued to client connections that their sockets have not taken yet.", nil, node),
		conns: prometheus.NewDesc("tether_push_queued_conns",
			"Client connections with bytes queued that their sockets have not taken yet.", nil, node),
	}
}

// Describe implements prometheus.Collector.
func (q *queuedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.bytes
	ch <- q.conns
}

// Collect implements prometheus.Collector.
func (q *queuedCollector) Collect(ch chan<- prometheus.Metric) {
	bytes, conns := q.count()
	ch <- prometheus.MustNewConstMetric(q.bytes, prometheus.GaugeValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(q.conns, prometheus.GaugeValue, float64(conns))
}

// count sums the connections' queues. A connection's lock is never taken
// under connMu (the close path takes them in the other order).
func (q *queuedCollector) count() (bytes, conns int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	n.connMu.Lock()
	for c := range n.conns {
		q.scratch = append(q.scratch, c)
	}
	n.connMu.Unlock()
	for i, c := range q.scratch {
		c.mu.Lock()
		k := len(c.buf)
		c.mu.Unlock()
		if k > 0 {
			bytes += int64(k)
			conns++
		}
		q.scratch[i] = nil
	}
	q.scratch = q.scratch[:0]
	return bytes, conns
}
