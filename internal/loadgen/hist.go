package loadgen

import (
	"math"
	"time"
)

// Hist is a latency histogram that worker processes fill and the parent
// merges: buckets grow by 2% from 10µs, so a quantile is within 2% of the
// true one, and a whole histogram is a small sparse map on the wire.
type Hist struct {
	Counts map[int]int64 `json:"counts"` // bucket -> samples
	N      int64         `json:"n"`
	Max    float64       `json:"max_ms"`
}

const (
	histBase   = 10 * time.Microsecond
	histGrowth = 1.02
)

func histBucket(d time.Duration) int {
	if d <= histBase {
		return 0
	}
	return int(math.Ceil(math.Log(float64(d)/float64(histBase)) / math.Log(histGrowth)))
}

// Add records one sample.
func (h *Hist) Add(d time.Duration) {
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	h.Counts[histBucket(d)]++
	h.N++
	h.Max = max(h.Max, float64(d)/float64(time.Millisecond))
}

// Merge adds o's samples to h.
func (h *Hist) Merge(o Hist) {
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	for b, c := range o.Counts {
		h.Counts[b] += c
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// Quantile returns the q-quantile (0..1) in milliseconds: the upper bound
// of the bucket it falls in. Zero without samples.
func (h *Hist) Quantile(q float64) float64 {
	if h.N == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.N)))
	rank = max(rank, 1)
	top := 0
	for b := range h.Counts {
		top = max(top, b)
	}
	var seen int64
	for b := 0; b <= top; b++ {
		if seen += h.Counts[b]; seen >= rank {
			ms := float64(histBase) * math.Pow(histGrowth, float64(b)) / float64(time.Millisecond)
			return min(ms, h.Max)
		}
	}
	return h.Max
}

// Latency is the summary of a Hist that results carry.
type Latency struct {
	N   int64   `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summary returns h's p50, p99 and max.
func (h *Hist) Summary() Latency {
	return Latency{N: h.N, P50: round3(h.Quantile(0.50)), P99: round3(h.Quantile(0.99)), Max: round3(h.Max)}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
