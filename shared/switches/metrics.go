package switches

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the registry's switches at scrape time:
//
//	tether_switch_value{switch}                          bool 0/1, percent 0-100, int, duration in seconds
//	tether_switch_changed_timestamp_seconds{switch}      when it was last set (absent if never)
//	tether_switch_rules{switch}                          1 when the switch carries rollout rules
//	tether_switches_version                              the installed snapshot's version
type Collector struct {
	r                              *Registry
	value, changed, rules, version *prometheus.Desc
}

// NewCollector returns the collector of r; register it with the process's metrics.
func NewCollector(r *Registry) *Collector {
	return &Collector{r: r,
		value:   prometheus.NewDesc("tether_switch_value", "The current value of each switch (bool 0/1, percent 0-100, int, duration in seconds).", []string{"switch"}, nil),
		changed: prometheus.NewDesc("tether_switch_changed_timestamp_seconds", "When each switch was last set (Unix time).", []string{"switch"}, nil),
		rules:   prometheus.NewDesc("tether_switch_rules", "1 when the switch carries gray-release rules.", []string{"switch"}, nil),
		version: prometheus.NewDesc("tether_switches_version", "The version of the switches this process has installed.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.value
	ch <- c.changed
	ch <- c.rules
	ch <- c.version
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.List() {
		v := float64(c.r.Value(s.Name))
		switch s.Kind {
		case KindPercent:
			v /= 100
		case KindDuration:
			v /= float64(time.Second)
		}
		ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, v, s.Name)
		if s.Set {
			ch <- prometheus.MustNewConstMetric(c.changed, prometheus.GaugeValue, float64(s.UpdatedAt.UnixMilli())/1000, s.Name)
		}
		r := 0.0
		if !s.Rules.Empty() {
			r = 1
		}
		ch <- prometheus.MustNewConstMetric(c.rules, prometheus.GaugeValue, r, s.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(c.r.Version()))
}
