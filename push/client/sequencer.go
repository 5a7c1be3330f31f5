package client

import "github.com/tetherim/tether"

// defaultWindow bounds how far ahead of the last released version the
// sequencer buffers. Entries beyond it are dropped rather than held: they are
// fetched again by the sync that the gap in front of them triggers, so
// dropping costs a re-fetch, never a loss, and memory stays bounded.
const defaultWindow = 1024

// offerResult says what the sequencer did with an offered entry.
type offerResult int

const (
	offerReady     offerResult = iota // the entry is the next one: Next will release it
	offerBuffered                     // held until the versions before it arrive
	offerDuplicate                    // already released or already held: ignored
	offerDropped                      // too far ahead of the window: ignored, sync will fetch it
)

// sequencer turns entries arriving from push and sync, in any order and
// with duplicates, into a stream released strictly in version order with
// every version exactly once. It is not safe for concurrent use: the
// Client's run loop owns it.
type sequencer struct {
	last    uint64                  // the highest version released
	window  uint64                  // how far past last entries are buffered
	pending map[uint64]tether.Entry // versions > last, not yet released
}

func newSequencer(last uint64, window int) *sequencer {
	if window <= 0 {
		window = defaultWindow
	}
	return &sequencer{last: last, window: uint64(window), pending: make(map[uint64]tether.Entry)}
}

// Last returns the highest version released so far.
func (s *sequencer) Last() uint64 { return s.last }

// Offer hands the sequencer an entry.
func (s *sequencer) Offer(e tether.Entry) offerResult {
	v := e.Version
	if v <= s.last {
		return offerDuplicate
	}
	if _, ok := s.pending[v]; ok {
		return offerDuplicate
	}
	if v-s.last > s.window {
		return offerDropped
	}
	s.pending[v] = e
	if v == s.last+1 {
		return offerReady
	}
	return offerBuffered
}

// Next releases the entry after Last, if it has arrived. A released version
// is never released again.
func (s *sequencer) Next() (tether.Entry, bool) {
	e, ok := s.pending[s.last+1]
	if !ok {
		return tether.Entry{}, false
	}
	delete(s.pending, s.last+1)
	s.last++
	return e, true
}

// Gap reports whether entries are held behind a missing version, and the
// lowest held version: versions Last()+1 .. first-1 are missing.
func (s *sequencer) Gap() (first uint64, ok bool) {
	if len(s.pending) == 0 {
		return 0, false
	}
	if _, ready := s.pending[s.last+1]; ready {
		return 0, false
	}
	for v := range s.pending {
		if !ok || v < first {
			first, ok = v, true
		}
	}
	return first, ok
}

// Buffered returns how many entries are held.
func (s *sequencer) Buffered() int { return len(s.pending) }
