package drill

// One phase per fault: load, the fault, the heal, more load, then the
// sends pause and the phase settles until every message accepted in it
// reached all its recipients (or the settle bound passed: the checker
// then calls the rest stuck or lost).

import (
	"context"
	"fmt"
	"time"
)

// phase is one fault's run.
type phase struct {
	f                       fault
	start, inject, heal     time.Time
	stop, settled, deadline time.Time
	err                     error
}

// runPhase runs fault i under load and waits for its deliveries.
func runPhase(ctx context.Context, cfg Config, c *cluster, l *load, i int, p *phase) error {
	cfg.progress("%s: %s", p.f.name, p.f.what)
	p.start = time.Now()
	l.phase.Store(int64(i))
	l.sending.Store(true)
	if err := sleep(ctx, cfg.Before); err != nil {
		return err
	}
	p.inject = time.Now()
	if err := p.f.inject(ctx, c); err != nil {
		p.err = err
	}
	p.heal = p.inject
	if p.f.heal != nil {
		if err := sleep(ctx, cfg.Hold); err != nil {
			return err
		}
		p.heal = time.Now()
		if err := p.f.heal(ctx, c); err != nil && p.err == nil {
			p.err = err
		}
	}
	if err := sleep(ctx, cfg.After); err != nil {
		return err
	}
	if err := l.pause(ctx, 2*time.Minute); err != nil {
		return err
	}
	p.stop = time.Now()
	if p.err != nil {
		cfg.progress("%s: %v", p.f.name, p.err)
	}
	// Settle: every accepted message of the phase at all its recipients.
	p.deadline = time.Now().Add(cfg.Settle)
	for {
		if allDelivered(l, i) || time.Now().After(p.deadline) {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	p.settled = time.Now()
	if err := c.alive(); err != nil {
		return fmt.Errorf("drill: after %s: %w", p.f.name, err)
	}
	return nil
}

func allDelivered(l *load, i int) bool {
	for _, s := range l.records() {
		if s.phase != i || s.accepted.IsZero() {
			continue
		}
		if _, ok := deliveredAt(l, s); !ok {
			return false
		}
	}
	return true
}

// deliveredAt is when the last recipient of s had it.
func deliveredAt(l *load, s *sendRec) (time.Time, bool) {
	var last time.Time
	for _, r := range l.recipients(s) {
		at, ok := l.byID[r].received(s.msgID)
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}
