package bulkhead

import "github.com/prometheus/client_golang/prometheus"

// The per-pool metrics: busy and queued are the per-second table's work0
// and workq0 columns (issue 12), one row per business.
var (
	busyDesc = prometheus.NewDesc("tether_bulkhead_busy",
		"Work running now in a business's pool (the table's work0).", []string{"pool"}, nil)
	queuedDesc = prometheus.NewDesc("tether_bulkhead_queued",
		"Work waiting for a worker of a business's pool (the table's workq0).", []string{"pool"}, nil)
	workersDesc = prometheus.NewDesc("tether_bulkhead_workers",
		"Workers of a business's pool: the most work it runs at once.", []string{"pool"}, nil)
	queueDesc = prometheus.NewDesc("tether_bulkhead_queue_capacity",
		"Work a business's pool lets wait at most; more is shed.", []string{"pool"}, nil)
	shedDesc = prometheus.NewDesc("tether_bulkhead_shed_total",
		"Work a business's pool refused with overloaded (queue full or queue wait over).", []string{"pool"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{busyDesc, queuedDesc, workersDesc, queueDesc, shedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the pools' state at the scrape.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, p := range s.Pools() {
		ch <- prometheus.MustNewConstMetric(busyDesc, prometheus.GaugeValue, float64(p.Busy()), p.name)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(p.Queued()), p.name)
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(p.size.Workers), p.name)
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(p.size.Queue), p.name)
		ch <- prometheus.MustNewConstMetric(shedDesc, prometheus.CounterValue, float64(p.Shed()), p.name)
	}
}

var _ prometheus.Collector = (*Set)(nil)
