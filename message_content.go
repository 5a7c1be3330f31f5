// The shape of message content by type: a rule of the domain, so every
// adapter that accepts a message checks it the same way.

package tether

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// Message content by type. text, image and file have a fixed shape that
// every client can render, so unknown fields are refused (a typo would
// otherwise be stored and silently ignored by every reader); custom content
// is any JSON object the clients agree on.
var contentFields = map[string][]string{
	MessageText:  {"text", "mentions"},
	MessageImage: {"url", "width", "height", "size", "mime", "name", "thumbnail_url"},
	MessageFile:  {"url", "name", "size", "mime"},
}

// validateContent checks content (valid JSON at most MaxContentBytes)
// against the shape of its message type.
func validateContent(typ string, content json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil || fields == nil {
		return Errorf(EINVALID, "content of %s message must be a JSON object", withArticle(typ))
	}
	allowed, fixed := contentFields[typ]
	if !fixed {
		return nil
	}
	var unknown []string
	for name := range fields {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Errorf(EINVALID, "content: unknown field %q in %s message (allowed: %s)", unknown[0], withArticle(typ), strings.Join(allowed, ", "))
	}
	c := contentChecker{typ: typ, fields: fields}
	switch typ {
	case MessageText:
		c.text()
	case MessageImage:
		c.url("url", true)
		c.url("thumbnail_url", false)
		c.positive("width")
		c.positive("height")
		c.size()
		c.label("mime", MaxMediaMIME, false)
		c.label("name", MaxMediaName, false)
	case MessageFile:
		c.url("url", true)
		c.label("name", MaxMediaName, true)
		c.size()
		c.label("mime", MaxMediaMIME, false)
	}
	return c.err
}

// contentChecker checks the fields of one content object and keeps the
// first violation.
type contentChecker struct {
	typ    string
	fields map[string]json.RawMessage
	err    error
}

func (c *contentChecker) failf(format string, args ...any) {
	if c.err == nil {
		c.err = Errorf(EINVALID, "content."+format, args...)
	}
}

// field decodes a field into v; ok is false when the field is absent or
// (after reporting a violation) malformed. null counts as malformed: a
// field is either left out or has a value.
func (c *contentChecker) field(name string, required bool, v any, want string) bool {
	raw, present := c.fields[name]
	if !present {
		if required {
			c.failf("%s is required in %s message", name, withArticle(c.typ))
		}
		return false
	}
	if string(raw) == "null" || json.Unmarshal(raw, v) != nil {
		c.failf("%s must be %s", name, want)
		return false
	}
	return true
}

func (c *contentChecker) text() {
	var s string
	if c.field("text", true, &s, "a string") {
		if n := utf8.RuneCountInString(s); n < 1 || n > MaxTextLen {
			c.failf("text must be 1 to %d characters, not %d", MaxTextLen, n)
		}
	}
	var ids []int64
	if c.field("mentions", false, &ids, "an array of user ids") {
		if len(ids) > MaxMentions {
			c.failf("mentions must name at most %d users, not %d", MaxMentions, len(ids))
		}
		for _, id := range ids {
			if id < 1 {
				c.failf("mentions must hold user ids (positive integers), not %d", id)
				break
			}
		}
	}
}

// url checks an absolute http or https URL of at most MaxMediaURLLen bytes.
func (c *contentChecker) url(name string, required bool) {
	var s string
	if !c.field(name, required, &s, "a string") {
		return
	}
	if len(s) > MaxMediaURLLen {
		c.failf("%s must be at most %d bytes, not %d", name, MaxMediaURLLen, len(s))
		return
	}
	if !webURL(s) {
		c.failf("%s must be an absolute http or https URL", name)
	}
}

// positive checks an optional integer > 0 (pixels).
func (c *contentChecker) positive(name string) {
	var n int64
	if c.field(name, false, &n, "a positive integer") && (n < 1 || n > 1<<31-1) {
		c.failf("%s must be a positive integer up to %d, not %d", name, 1<<31-1, n)
	}
}

// size checks an optional size in bytes, >= 0.
func (c *contentChecker) size() {
	var n int64
	if c.field("size", false, &n, "an integer number of bytes") && n < 0 {
		c.failf("size must be a number of bytes >= 0, not %d", n)
	}
}

// label checks a printable string of 1 to max characters.
func (c *contentChecker) label(name string, max int, required bool) {
	var s string
	if c.field(name, required, &s, "a string") && (s == "" || !Printable(s, max)) {
		c.failf("%s must be 1 to %d printable characters", name, max)
	}
}

// withArticle is "a text", "an image", ... for error messages.
func withArticle(typ string) string {
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		return "an " + typ
	}
	return "a " + typ
}
