package stack

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tetherim/tether/shared/metrics"
)

func TestAdminMemory_ReportsRuntimeStatsAndPostCollectsFirst(t *testing.T) {
	h := adminHandler(metrics.New(), nil, nil, nil, slog.Default())
	get := func(method string) MemoryStats {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/debug/memory", nil))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s /debug/memory: %d %s", method, w.Code, w.Header().Get("Content-Type"))
		}
		var ms MemoryStats
		if err := json.Unmarshal(w.Body.Bytes(), &ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	before := get(http.MethodGet)
	if before.HeapInuse == 0 || before.Sys == 0 || before.Goroutines == 0 {
		t.Fatalf("implausible stats: %+v", before)
	}
	if after := get(http.MethodPost); after.NumGC < before.NumGC+2 {
		t.Fatalf("POST ran %d collections, want 2", after.NumGC-before.NumGC)
	}
}
