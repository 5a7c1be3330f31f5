// One rule for the short strings clients name things with (device ids,
// client message ids, group and display names, push keys), so that every
// adapter refuses the same input with the same words.

package tether

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable reports whether s is valid UTF-8 of at most max characters
// (code points, as openapi.yaml's maxLength counts them) with no control
// characters (C0, DEL or C1). The empty string is printable: a field that
// must not be empty says so itself.
func Printable(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// webURL reports whether s is an absolute http or https URL (no
// whitespace), the only links clients are asked to follow.
func webURL(s string) bool {
	p, err := url.Parse(s)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && !strings.ContainsAny(s, " \t\r\n")
}
