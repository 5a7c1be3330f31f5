package client

import (
	"math/rand/v2"
	"testing"

	"github.com/tetherim/tether"
)

func entry(v uint64) tether.Entry { return tether.Entry{Version: v, Kind: tether.EntryMessage} }

// drainAll releases everything the sequencer can and returns the versions.
func drainAll(s *sequencer) []uint64 {
	var out []uint64
	for {
		e, ok := s.Next()
		if !ok {
			return out
		}
		out = append(out, e.Version)
	}
}

func TestSequencer_InOrderEntriesReleasedImmediately(t *testing.T) {
	s := newSequencer(0, 0)
	for v := uint64(1); v <= 5; v++ {
		if r := s.Offer(entry(v)); r != offerReady {
			t.Fatalf("Offer(%d) = %v, want ready", v, r)
		}
		got := drainAll(s)
		if len(got) != 1 || got[0] != v {
			t.Fatalf("after Offer(%d) released %v", v, got)
		}
	}
	if s.Last() != 5 {
		t.Fatalf("Last = %d, want 5", s.Last())
	}
}

func TestSequencer_ResumesAfterStartVersion(t *testing.T) {
	s := newSequencer(10, 0)
	if r := s.Offer(entry(10)); r != offerDuplicate {
		t.Fatalf("Offer(10) at last=10 = %v, want duplicate", r)
	}
	if r := s.Offer(entry(3)); r != offerDuplicate {
		t.Fatalf("Offer(3) at last=10 = %v, want duplicate", r)
	}
	if r := s.Offer(entry(11)); r != offerReady {
		t.Fatalf("Offer(11) = %v, want ready", r)
	}
	if got := drainAll(s); len(got) != 1 || got[0] != 11 {
		t.Fatalf("released %v, want [11]", got)
	}
}

func TestSequencer_GapHoldsLaterEntriesUntilFilled(t *testing.T) {
	s := newSequencer(0, 0)
	s.Offer(entry(1))
	drainAll(s)
	for _, v := range []uint64{4, 3, 6} {
		if r := s.Offer(entry(v)); r != offerBuffered {
			t.Fatalf("Offer(%d) = %v, want buffered", v, r)
		}
	}
	if got := drainAll(s); len(got) != 0 {
		t.Fatalf("released %v across a gap", got)
	}
	first, gap := s.Gap()
	if !gap || first != 3 {
		t.Fatalf("Gap() = %d,%v; want 3,true", first, gap)
	}
	s.Offer(entry(2))
	if _, gap := s.Gap(); gap {
		t.Fatal("Gap reported while the next entry is ready")
	}
	if got := drainAll(s); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("released %v, want [2 3 4]", got)
	}
	if first, gap := s.Gap(); !gap || first != 6 {
		t.Fatalf("Gap() = %d,%v; want 6,true", first, gap)
	}
	s.Offer(entry(5))
	if got := drainAll(s); len(got) != 2 || got[1] != 6 {
		t.Fatalf("released %v, want [5 6]", got)
	}
	if _, gap := s.Gap(); gap || s.Buffered() != 0 {
		t.Fatalf("gap or buffered entries remain: buffered=%d", s.Buffered())
	}
}

func TestSequencer_DuplicateOfHeldEntryIgnored(t *testing.T) {
	s := newSequencer(0, 0)
	a := entry(2)
	a.Kind = "first"
	b := entry(2)
	b.Kind = "second"
	s.Offer(a)
	if r := s.Offer(b); r != offerDuplicate {
		t.Fatalf("second Offer(2) = %v, want duplicate", r)
	}
	s.Offer(entry(1))
	drainAll(s)
	// The first copy wins; the second never surfaces.
	s2 := newSequencer(0, 0)
	s2.Offer(entry(1))
	s2.Offer(a)
	s2.Offer(b)
	var kinds []string
	for e, ok := s2.Next(); ok; e, ok = s2.Next() {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[1] != "first" {
		t.Fatalf("released kinds %v", kinds)
	}
}

func TestSequencer_EntriesBeyondWindowDroppedNotHeld(t *testing.T) {
	s := newSequencer(0, 8)
	if r := s.Offer(entry(8)); r != offerBuffered {
		t.Fatalf("Offer(8) = %v, want buffered (inside window)", r)
	}
	if r := s.Offer(entry(9)); r != offerDropped {
		t.Fatalf("Offer(9) = %v, want dropped (beyond window)", r)
	}
	if s.Buffered() != 1 {
		t.Fatalf("buffered %d, want 1", s.Buffered())
	}
	// Once the window moves, the dropped version is accepted when re-offered.
	for v := uint64(1); v <= 7; v++ {
		s.Offer(entry(v))
	}
	drainAll(s)
	if r := s.Offer(entry(9)); r != offerReady {
		t.Fatalf("re-offered 9 = %v, want ready", r)
	}
	if got := drainAll(s); len(got) != 1 || got[0] != 9 {
		t.Fatalf("released %v", got)
	}
}

// TestSequencer_RandomPermutationsWithDuplicatesReleaseEachVersionOnceInOrder
// feeds versions in random order, each several times, interleaving drains, as
// push and sync would, and checks the released stream is exactly 1..n.
func TestSequencer_RandomPermutationsWithDuplicatesReleaseEachVersionOnceInOrder(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		n := 1 + rng.IntN(300)
		start := uint64(rng.IntN(5))
		var feed []uint64
		for v := uint64(1); v <= uint64(n); v++ {
			for k := 0; k < 1+rng.IntN(3); k++ {
				feed = append(feed, v)
			}
		}
		rng.Shuffle(len(feed), func(i, j int) { feed[i], feed[j] = feed[j], feed[i] })
		s := newSequencer(start, 64)
		var out []uint64
		var pending []uint64 // dropped ones, re-offered later like a sync would
		for i, v := range feed {
			if s.Offer(entry(v)) == offerDropped {
				pending = append(pending, v)
			}
			if rng.IntN(4) == 0 || i == len(feed)-1 {
				out = append(out, drainAll(s)...)
			}
		}
		// "Sync": re-offer whatever was dropped until nothing is missing.
		for len(pending) > 0 {
			again := pending
			pending = nil
			for _, v := range again {
				if s.Offer(entry(v)) == offerDropped {
					pending = append(pending, v)
				}
				out = append(out, drainAll(s)...)
			}
		}
		want := uint64(start)
		for _, v := range out {
			want++
			if v != want {
				t.Fatalf("seed %d: released %d, want %d (stream %v)", seed, v, want, out)
			}
		}
		if want != uint64(n) && !(start >= uint64(n) && len(out) == 0) {
			t.Fatalf("seed %d: released up to %d, want %d", seed, want, n)
		}
		if _, gap := s.Gap(); gap {
			t.Fatalf("seed %d: gap remains", seed)
		}
	}
}
