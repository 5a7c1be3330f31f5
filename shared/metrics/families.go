package metrics

import (
	"regexp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Families lists the name of every metric family this registry can expose,
// including vectors with no series yet, which the exposition leaves out (a
// healthy node has no tether_timeouts_total series). Dashboards and alert
// rules are checked against it, so they cannot name a metric that does
// not exist (deployments/monitoring_test.go).
func (m *Metrics) Families() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		m.describe(ch)
		close(ch)
	}()
	var names []string
	for d := range ch {
		// Desc has no name accessor; its String is stable: Desc{fqName: "...", ...}.
		if s := fqName.FindStringSubmatch(d.String()); s != nil {
			names = append(names, s[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
