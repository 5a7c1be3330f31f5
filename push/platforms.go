package push

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherim/tether"
)

// platformLabels are the values of the platform label of
// tether_push_sessions: the platforms the API lets a device declare. Any
// other value a token carries is counted as "other", so a client cannot mint
// metric series.
var platformLabels = tether.Platforms

// otherPlatform is the index of "other" in platformLabels.
var otherPlatform = func() int {
	for i, p := range platformLabels {
		if p == "other" {
			return i
		}
	}
	panic("push: tether.Platforms lacks \"other\"")
}()

func platformIndex(p string) int {
	for i, l := range platformLabels {
		if l == p {
			return i
		}
	}
	return otherPlatform
}

// platformCounts counts live sessions by platform label.
type platformCounts struct {
	n [8]atomic.Int64 // indexed like platformLabels
}

func init() {
	if len(platformLabels) > len(platformCounts{}.n) {
		panic("push: platformCounts is too small for tether.Platforms")
	}
}

func (p *platformCounts) add(platform string, d int64) { p.n[platformIndex(platform)].Add(d) }

// get returns the count of one platform label.
func (p *platformCounts) get(label string) int64 { return p.n[platformIndex(label)].Load() }

// sessionCollector exports tether_push_sessions{platform} and
// tether_push_handshakes. Every platform is always exported, zeros too, so
// dashboards see a platform drop to zero rather than vanish.
type sessionCollector struct {
	n          *Node
	sessions   *prometheus.Desc
	handshakes *prometheus.Desc
}

func newSessionCollector(n *Node) *sessionCollector {
	node := prometheus.Labels{"node": n.cfg.NodeID}
	return &sessionCollector{
		n: n,
		sessions: prometheus.NewDesc("tether_push_sessions",
			"Live authenticated sessions on this push node, by platform.", []string{"platform"}, node),
		handshakes: prometheus.NewDesc("tether_push_handshakes",
			"Connections on this push node that have not completed their handshake.", nil, node),
	}
}

// Describe implements prometheus.Collector.
func (s *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.sessions
	ch <- s.handshakes
}

// Collect implements prometheus.Collector.
func (s *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	for i, l := range platformLabels {
		ch <- prometheus.MustNewConstMetric(s.sessions, prometheus.GaugeValue, float64(s.n.hub.plat.n[i].Load()), l)
	}
	ch <- prometheus.MustNewConstMetric(s.handshakes, prometheus.GaugeValue, float64(s.n.handshakes.Load()))
}
