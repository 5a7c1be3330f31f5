package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHist_QuantilesAreWithinTwoPercentAndMergeAcrossProcesses(t *testing.T) {
	var a, b Hist
	for i := 1; i <= 1000; i++ { // 1..1000 ms, split over two "processes"
		h := &a
		if i%2 == 0 {
			h = &b
		}
		h.Add(time.Duration(i) * time.Millisecond)
	}
	var all Hist
	all.Merge(a)
	all.Merge(b)
	s := all.Summary()
	if s.N != 1000 || s.Max != 1000 {
		t.Fatalf("summary %+v", s)
	}
	for _, c := range []struct{ got, want float64 }{{s.P50, 500}, {s.P99, 990}} {
		if c.got < c.want || c.got > c.want*1.021 {
			t.Errorf("quantile %.3f, want %.0f within +2%%", c.got, c.want)
		}
	}
	var empty Hist
	if empty.Quantile(0.99) != 0 {
		t.Error("quantile of no samples")
	}
}

func TestScrapeCalls_SumsEachLayerOfTheCallHistogram(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join([]string{
			`# TYPE tether_call_seconds histogram`,
			`tether_call_seconds_bucket{layer="sql",name="create",le="0.001"} 3`,
			`tether_call_seconds_sum{layer="sql",name="create"} 0.5`,
			`tether_call_seconds_count{layer="sql",name="create"} 10`,
			`tether_call_seconds_sum{layer="sql",name="query"} 0.25`,
			`tether_call_seconds_count{layer="sql",name="query"} 5`,
			`tether_call_seconds_sum{layer="redis",name="xadd"} 1.5e-03`,
			`tether_call_seconds_count{layer="redis",name="xadd"} 3`,
			`tether_calls_total{layer="sql",name="create"} 10`,
		}, "\n"))
	}))
	defer srv.Close()
	got, err := scrapeCalls(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if got["sql"] != (LayerTime{Seconds: 0.75, Calls: 15}) || got["redis"] != (LayerTime{Seconds: 0.0015, Calls: 3}) {
		t.Fatalf("%+v", got)
	}
}
