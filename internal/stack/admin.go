package stack

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/tetherim/tether/shared/dephealth"
	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/metrics"
)

// check is a readiness probe of one dependency.
type check struct {
	name string
	fn   func(ctx context.Context) error
}

// adminHandler serves the operator endpoints of a process:
//
//	/metrics       Prometheus counters (shared/metrics)
//	/healthz       liveness: the process serves HTTP; each dependency's state as JSON
//	/readyz        readiness: the dependencies the process cannot work without answer
//	/debug/pprof/  runtime profiles
//	/debug/memory  runtime memory statistics; POST frees memory to the OS first
//	/live          the per-second table of this process; /live/cluster of every process (shared/live)
func adminHandler(m *metrics.Metrics, deps *dephealth.Set, checks []check, lt *liveTable, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if lt != nil {
		live.Register(mux, lt.rec, lt.cluster)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if deps != nil {
			deps.ServeHealth(w) // 200 with each dependency's state
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, c := range checks {
			if err := c.fn(ctx); err != nil {
				log.Warn("readiness check failed", "check", c.name, "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(c.name + ": unavailable\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/memory", memoryHandler)
	mux.HandleFunc("POST /debug/memory", memoryHandler)
	return mux
}
