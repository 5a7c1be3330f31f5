package drill

// rows turns the sends, the clients' records and the checker's findings
// into one Row per phase.

import (
	"fmt"
	"strings"
	"time"
)

// maxFindings is how many findings a row lists for a person to start from.
const maxFindings = 5

func rows(phases []*phase, l *load, findings []finding) []Row {
	out := make([]Row, len(phases))
	for i, p := range phases {
		r := &out[i]
		r.Fault, r.What, r.RetrySafe = p.f.name, p.f.what, true
		if p.err != nil {
			r.FaultError = p.err.Error()
		}
		r.FailedBy = map[string]int{}
		for _, s := range l.records() {
			if s.phase != i {
				continue
			}
			r.FailedRequests += len(s.failures)
			for _, f := range s.failures {
				r.FailedBy[f]++
			}
			switch {
			case s.refused != "":
				r.Refused++
				continue
			case s.accepted.IsZero():
				r.GaveUp++
				continue
			}
			r.Accepted++
			if s.retried {
				r.Retried++
				if s.dupReply {
					r.RetriedDup++
				}
			}
			at, ok := deliveredAt(l, s)
			if !ok || at.After(p.settled) {
				continue // lost or stuck: counted from the findings and below
			}
			r.Delivered++
			lag := at.Sub(s.accepted)
			r.MaxLagSeconds = max(r.MaxLagSeconds, round1(lag))
			if lag > time.Second && !p.inject.IsZero() {
				r.ResumedSeconds = max(r.ResumedSeconds, round1(at.Sub(p.inject)))
			}
		}
		end := p.settled
		if i+1 < len(phases) {
			end = phases[i+1].start
		}
		for _, u := range l.users {
			u.mu.Lock()
			for _, d := range u.disconnects {
				if !d.Before(p.start) && d.Before(end) {
					r.Disconnects++
				}
			}
			for _, k := range u.kicks {
				if !k.Before(p.start) && k.Before(end) {
					r.Kicks++
				}
			}
			for _, v := range u.bad {
				if !v.at.Before(p.start) && (v.at.Before(end) || i+1 == len(phases)) {
					switch v.kind {
					case "duplicate":
						r.Duplicated++
					default:
						r.CrossUser++
					}
					r.note(v.kind + ": " + v.what)
				}
			}
			u.mu.Unlock()
		}
	}
	// The checker's findings, by the phase of their send.
	lostSends := map[*sendRec]bool{}
	for _, f := range findings {
		if f.send == nil {
			continue
		}
		r := &out[f.send.phase]
		switch f.kind {
		case "lost":
			if !lostSends[f.send] {
				lostSends[f.send] = true
				r.Lost++
			}
		case "duplicate":
			r.Duplicated++
			if f.send.retried {
				r.RetrySafe = false
			}
		case "reordered":
			r.Reordered++
		case "cross_user":
			r.CrossUser++
		}
		r.note(f.kind + ": " + f.what)
	}
	// Stuck: stored and reached every timeline, but some online recipient
	// had it only after its phase settled (from the final sync).
	for i, p := range phases {
		for _, s := range l.records() {
			if s.phase != i || s.accepted.IsZero() || lostSends[s] {
				continue
			}
			if at, ok := deliveredAt(l, s); !ok || at.After(p.settled) {
				out[i].Stuck++
				out[i].note(fmt.Sprintf("stuck: message %d (%q, accepted %s after the fault) %s", s.msgID, s.cmid,
					s.accepted.Sub(p.inject).Round(time.Millisecond), l.late(s, p.settled)))
			}
		}
	}
	return out
}

func (r *Row) note(s string) {
	if len(r.Findings) < maxFindings {
		r.Findings = append(r.Findings, s)
	}
}

func round1(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}

// late says which recipients of s had it only after settled, and how
// their clients stood.
func (l *load) late(s *sendRec, settled time.Time) string {
	var parts []string
	for _, r := range l.recipients(s) {
		u := l.byID[r]
		at, ok := u.received(s.msgID)
		if ok && !at.After(settled) {
			continue
		}
		u.mu.Lock()
		v := u.msgVersion[s.msgID]
		parts = append(parts, fmt.Sprintf("user %d (version %d, via push %v, %d connects, %d disconnects)",
			r, v, u.got[v].viaPush, u.connects, len(u.disconnects)))
		u.mu.Unlock()
	}
	return "reached " + strings.Join(parts, ", ") + " only after the phase settled"
}
