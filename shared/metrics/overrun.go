// A unit of work that overran its budget logs one line: what it was, how
// long it took, its budget and the ids to find it. A stall makes every unit
// slow at once, so lines are rate-limited per unit (layer and name): at most
// one per OverrunLogEvery, and the next line says how many were left out.

package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// OverrunLogEvery is the least time between two overrun lines of one unit.
const OverrunLogEvery = 10 * time.Second

type unitKey struct{ layer, name string }

type overrunState struct {
	last       time.Time
	suppressed int
}

// overrunLog rate-limits the overrun lines of one process.
type overrunLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	units map[unitKey]*overrunState // bounded like the label sets: one entry per unit
}

func newOverrunLog(log *slog.Logger) *overrunLog {
	return &overrunLog{log: log, every: OverrunLogEvery, now: time.Now, units: map[unitKey]*overrunState{}}
}

func (o *overrunLog) overran(layer, name string, d, budget time.Duration, err error, ids []slog.Attr) {
	k := unitKey{layer, name}
	now := o.now()
	o.mu.Lock()
	s := o.units[k]
	if s == nil {
		s = &overrunState{}
		o.units[k] = s
	} else if now.Sub(s.last) < o.every {
		s.suppressed++
		o.mu.Unlock()
		return
	}
	suppressed := s.suppressed
	s.last, s.suppressed = now, 0
	o.mu.Unlock()

	attrs := make([]slog.Attr, 0, 7+len(ids))
	attrs = append(attrs,
		slog.String("layer", layer),
		slog.String("name", name),
		slog.Duration("dur", d),
		slog.Duration("budget", budget),
	)
	attrs = append(attrs, ids...)
	if err != nil {
		attrs = append(attrs, slog.String("class", ClassOf(err)))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	o.log.LogAttrs(context.Background(), slog.LevelWarn, "unit of work over budget", attrs...)
}
