package dephealth

import (
	"context"
	"time"
)

// Probe is a check of one dependency run in the background, so /healthz and
// the gauges stay current when nothing else uses the dependency.
type Probe struct {
	Dep *Dep
	Fn  func(ctx context.Context) error
}

// Run checks every probe each interval (each bounded by timeout) until ctx
// ends, starting at once.
func Run(ctx context.Context, interval, timeout time.Duration, probes ...Probe) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, p := range probes {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			_ = p.Dep.Check(pctx, p.Fn)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
