// Latency quantiles come from histogram buckets, the way Prometheus's
// histogram_quantile computes them: linear within the bucket that holds the
// rank. Summing buckets first is what makes a cluster's p99 right; a
// maximum or mean of the processes' p99s is not a p99.

package live

import (
	"slices"

	"github.com/tetherim/tether/shared/metrics"
)

// addHist adds b's buckets into a (both ordered by bound, -1 last).
func addHist(a, b []Bucket) []Bucket {
	for _, x := range b {
		i := slices.IndexFunc(a, func(y Bucket) bool { return y.LeMS == x.LeMS })
		if i >= 0 {
			a[i].N += x.N
			continue
		}
		a = append(a, x)
	}
	slices.SortFunc(a, func(x, y Bucket) int {
		switch {
		case x.LeMS == y.LeMS:
			return 0
		case x.LeMS == -1:
			return 1
		case y.LeMS == -1:
			return -1
		case x.LeMS < y.LeMS:
			return -1
		}
		return 1
	})
	return a
}

// quantile returns the q-quantile (0..1) of the observations in h, in
// milliseconds; 0 without observations. A rank in the overflow bucket
// answers the highest bound: more is not known.
func quantile(h []Bucket, q float64) float64 {
	var total int64
	for _, b := range h {
		total += b.N
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen int64
	lower := 0.0
	for _, b := range h {
		if b.LeMS == -1 {
			return max(lower, metrics.Buckets[len(metrics.Buckets)-1]*1000)
		}
		// Empty buckets are left out of h: the bucket's lower bound is the
		// bound below it in the histogram's own bounds.
		lower = max(lower, lowerBound(b.LeMS))
		if float64(seen+b.N) >= rank {
			return lower + (b.LeMS-lower)*(rank-float64(seen))/float64(b.N)
		}
		seen += b.N
		lower = b.LeMS
	}
	return lower
}

// withQuantiles sets P50MS and P99MS from Hist.
func (s *Summary) withQuantiles() {
	s.P50MS, s.P99MS = round3(quantile(s.Hist, .5)), round3(quantile(s.Hist, .99))
}

func round3(f float64) float64 { return float64(int64(f*1000+.5)) / 1000 }

// lowerBound is the bound below le (ms) in tether_call_seconds's buckets;
// 0 for the first bucket or a bound it does not have.
func lowerBound(le float64) float64 {
	lower := 0.0
	for _, b := range metrics.Buckets {
		ms := b * 1000
		if ms >= le {
			break
		}
		lower = ms
	}
	return lower
}
