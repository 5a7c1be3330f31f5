// A gathering is the registry flattened to series (name and labels). Two
// gatherings a second apart give the second's counts by subtraction; a
// counter that went down was reset (a restarted component), and its new
// value is the count.

package live

import (
	"math"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series is one labelled series of a family.
type series struct {
	labels map[string]string
	value  float64 // counter or gauge value; a summary's sample count
	sum    float64 // histogram and summary: sum of observations
	count  float64 // histogram: observations
	bounds []float64
	cum    []float64 // histogram: cumulative count of each bound
}

// gathering maps a family name to its series, keyed by their labels.
type gathering map[string]map[string]*series

func gather(g prometheus.Gatherer) (gathering, error) {
	mfs, err := g.Gather()
	out := make(gathering, len(mfs))
	for _, mf := range mfs {
		fam := make(map[string]*series, len(mf.GetMetric()))
		for _, m := range mf.GetMetric() {
			s := &series{labels: make(map[string]string, len(m.GetLabel()))}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				s.value = m.GetUntyped().GetValue()
			case dto.MetricType_SUMMARY:
				s.value, s.sum = float64(m.GetSummary().GetSampleCount()), m.GetSummary().GetSampleSum()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				s.count, s.sum = float64(h.GetSampleCount()), h.GetSampleSum()
				for _, b := range h.GetBucket() {
					s.bounds = append(s.bounds, b.GetUpperBound())
					s.cum = append(s.cum, float64(b.GetCumulativeCount()))
				}
			}
			fam[labelKey(s.labels)] = s
		}
		out[mf.GetName()] = fam
	}
	// A collector that failed leaves the others' families: a partial
	// second is better than none.
	return out, err
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// delta is cur's value minus prev's for one series of a counter family.
func (g gathering) delta(prev gathering, name, key string) float64 {
	cur := g[name][key]
	if cur == nil {
		return 0
	}
	var before float64
	if p := prev[name][key]; p != nil {
		before = p.value
	}
	if cur.value < before {
		return cur.value // reset
	}
	return cur.value - before
}

// each calls fn with every series of a family and its key.
func (g gathering) each(name string, fn func(key string, s *series)) {
	fam := g[name]
	keys := make([]string, 0, len(fam))
	for k := range fam {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fn(k, fam[k])
	}
}

// gauge is the value of a family's only series (0 without one).
func (g gathering) gauge(name string) float64 {
	for _, s := range g[name] {
		return s.value
	}
	return 0
}

// histDelta is the observations of one histogram series in the interval,
// as per-bucket (not cumulative) counts in milliseconds.
func (g gathering) histDelta(prev gathering, name, key string) (hist []Bucket, sumMS float64) {
	cur := g[name][key]
	if cur == nil {
		return nil, 0
	}
	p := prev[name][key]
	if p != nil && (p.count > cur.count || !slices.Equal(p.bounds, cur.bounds)) {
		p = nil // reset
	}
	var below float64
	for i, b := range cur.bounds {
		c := cur.cum[i]
		if p != nil {
			c -= p.cum[i]
		}
		if n := c - below; n > 0 {
			hist = append(hist, Bucket{LeMS: boundMS(b), N: int64(n)})
		}
		below = c
	}
	total := cur.count
	sum := cur.sum
	if p != nil {
		total -= p.count
		sum -= p.sum
	}
	if n := total - below; n > 0 {
		hist = append(hist, Bucket{LeMS: -1, N: int64(n)})
	}
	return hist, sum * 1000
}

func boundMS(b float64) float64 {
	if math.IsInf(b, 1) {
		return -1
	}
	return b * 1000
}
