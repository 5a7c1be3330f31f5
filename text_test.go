package tether

import (
	"strings"
	"testing"
)

// One rule for every short client string: characters, not bytes, are
// counted (as openapi.yaml's maxLength does), and no control character of
// any range gets through.
func TestPrintable_CountsCharactersAndRefusesEveryControl(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want bool
	}{
		{"", 4, true},
		{"abcd", 4, true},
		{"abcde", 4, false},
		{strings.Repeat("界", 64), 64, true}, // 192 bytes, 64 characters
		{strings.Repeat("界", 65), 64, false},
		{"a\tb", 8, false},       // C0
		{"a\x7fb", 8, false},     // DEL
		{"a\u0085b", 8, false},   // C1 (NEL)
		{"a\xffb", 8, false},     // not UTF-8
		{"naïve café", 10, true}, // letters beyond ASCII
	} {
		if got := Printable(tc.s, tc.max); got != tc.want {
			t.Errorf("Printable(%q, %d) = %v, want %v", tc.s, tc.max, got, tc.want)
		}
	}
}
