package tether

import "testing"

// One conversation has one id: both senders get the same 1:1 id, and no
// other spelling of it parses.
func TestConversationID_OneCanonicalSpelling(t *testing.T) {
	if a, b := DirectConversationID(7, 3), DirectConversationID(3, 7); a != "d:3:7" || b != a {
		t.Fatalf("direct ids %q %q", a, b)
	}
	if lo, hi, ok := ParseDirectConversationID("d:3:7"); !ok || lo != 3 || hi != 7 {
		t.Fatalf("parse d:3:7 = %d %d %v", lo, hi, ok)
	}
	if g, ok := ParseGroupConversationID(GroupConversationID(42)); !ok || g != 42 {
		t.Fatalf("group round trip = %d %v", g, ok)
	}
	for _, bad := range []string{"d:7:3", "d:3:3", "d:03:7", "d:+3:7", "d:0:7", "d:3", "x:3:7", "g:3"} {
		if _, _, ok := ParseDirectConversationID(bad); ok {
			t.Errorf("ParseDirectConversationID(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"g:0", "g:-1", "g:01", "g:+1", "g:", "d:1:2"} {
		if _, ok := ParseGroupConversationID(bad); ok {
			t.Errorf("ParseGroupConversationID(%q) accepted", bad)
		}
	}
}
