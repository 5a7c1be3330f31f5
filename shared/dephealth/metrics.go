package dephealth

import "github.com/prometheus/client_golang/prometheus"

var (
	upDesc = prometheus.NewDesc("tether_dependency_up",
		"1 if the last use or check of the dependency succeeded, 0 if not.", []string{"dep"}, nil)
	latencyDesc = prometheus.NewDesc("tether_dependency_latency_seconds",
		"Duration of the last use or check of the dependency.", []string{"dep"}, nil)
	usableDesc = prometheus.NewDesc("tether_dependency_usable",
		"1 if the dependency has done the process's work and not refused it since (see Dep.Usable), 0 if not.", []string{"dep"}, nil)
)

// Collector returns a Prometheus collector of the set's gauges, read at
// each scrape.
func (s *Set) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Set }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- latencyDesc
	ch <- usableDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	deps := append([]*Dep(nil), c.s.deps...)
	c.s.mu.Unlock()
	for _, d := range deps {
		st := d.Status()
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, b2f(st.Up), d.name)
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, st.Latency.Seconds(), d.name)
		ch <- prometheus.MustNewConstMetric(usableDesc, prometheus.GaugeValue, b2f(d.Usable() == nil), d.name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
