package tether

// Client JSON that reaches other users (message content, push payloads,
// profile attributes, JSON signal data) must be JSON that any strict decoder
// reads, and it is stored and forwarded in one canonical form.
//
// Go's encoding/json accepts more than strict decoders do: raw bytes that
// are not UTF-8 inside strings, escaped lone surrogates ("\ud800"), nesting
// thousands of levels deep, duplicate member names and numbers no float64
// holds. Stored verbatim, one such value would make every sync page holding
// it unreadable to a strict client, which could then never sync past it.
//
// The canonical form is the value re-encoded: no insignificant whitespace,
// members in the order given, numbers as written, and strings escaped one
// way only (RFC 8785's rule: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
// control characters as `\u00xx`, everything else as raw UTF-8). Size limits
// apply to it, so a client's escaping choices never decide whether a value
// fits, and it is never longer than the value compacted.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxJSONDepth is how deeply client JSON may nest objects and arrays; the
// outermost counts 1.
const MaxJSONDepth = 32

// jsonError says why client JSON was refused and where.
type jsonError struct {
	offset int    // byte offset in the input
	reason string // one of the reason constants
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at byte %d", e.reason, e.offset) }

// Reasons of a jsonError.
const (
	reasonSyntax     = "malformed JSON"
	reasonUTF8       = "invalid UTF-8"
	reasonSurrogate  = "lone surrogate"
	reasonDepth      = "nested too deeply"
	reasonDuplicate  = "duplicate member name"
	reasonNumber     = "number out of range"
	reasonTrailing   = "data after the JSON value"
	reasonEmpty      = "no JSON value"
	reasonControlChr = "unescaped control character in a string"
)

// CanonicalJSON checks client JSON that other users will receive and
// returns its canonical form (a new slice): EINVALID for a value a strict
// decoder would refuse, saying what and at which byte.
func CanonicalJSON(src []byte) ([]byte, error) {
	out, err := canonical(src)
	if err != nil {
		return nil, Errorf(EINVALID, "%v", err)
	}
	return out, nil
}

// CanonicalObject is CanonicalJSON for a JSON object a client submits, with
// a limit of maxBytes on the canonical form. field names the value in
// errors: EINVALID for a value a strict decoder would refuse or that is not
// an object, ETOOLARGE over maxBytes.
func CanonicalObject(field string, raw json.RawMessage, maxBytes int) (json.RawMessage, error) {
	out, err := canonical(raw)
	switch {
	case err == nil && out[0] != '{':
		return nil, Errorf(EINVALID, "%s must be a JSON object", field)
	case err != nil:
		return nil, Errorf(EINVALID, "%s must be UTF-8 JSON without lone surrogates or duplicate member names, nested at most %d deep: %v", field, MaxJSONDepth, err)
	case len(out) > maxBytes:
		return nil, Errorf(ETOOLARGE, "%s is %d bytes in canonical form, over the limit of %d", field, len(out), maxBytes)
	}
	return out, nil
}

// canonical checks src and returns its canonical form.
func canonical(src []byte) ([]byte, error) {
	p := parser{src: src, out: make([]byte, 0, len(src))}
	p.ws()
	if p.i == len(src) {
		return nil, p.fail(reasonEmpty)
	}
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(src) {
		return nil, p.fail(reasonTrailing)
	}
	return p.out, nil
}

// reason returns the reason of a jsonError, "" for other errors.
func reason(err error) string {
	var e *jsonError
	if errors.As(err, &e) {
		return e.reason
	}
	return ""
}

type parser struct {
	src []byte
	i   int
	out []byte
}

func (p *parser) fail(reason string) error { return &jsonError{offset: p.i, reason: reason} }

func (p *parser) ws() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses one value at nesting depth (containers open so far).
func (p *parser) value(depth int) error {
	if p.i >= len(p.src) {
		return p.fail(reasonSyntax)
	}
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.src)-p.i >= len(lit) && string(p.src[p.i:p.i+len(lit)]) == lit {
				p.out = append(p.out, lit...)
				p.i += len(lit)
				return nil
			}
		}
		return p.fail(reasonSyntax)
	}
}

func (p *parser) object(depth int) error {
	if depth > MaxJSONDepth {
		return p.fail(reasonDepth)
	}
	p.i++ // '{'
	p.out = append(p.out, '{')
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		p.out = append(p.out, '}')
		return nil
	}
	var names names
	for {
		if p.i >= len(p.src) || p.src[p.i] != '"' {
			return p.fail(reasonSyntax)
		}
		at := p.i
		name, err := p.str()
		if err != nil {
			return err
		}
		if !names.add(name) {
			return &jsonError{offset: at, reason: reasonDuplicate}
		}
		p.ws()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return p.fail(reasonSyntax)
		}
		p.i++
		p.out = append(p.out, ':')
		p.ws()
		if err := p.value(depth); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.src) {
			return p.fail(reasonSyntax)
		}
		switch p.src[p.i] {
		case ',':
			p.i++
			p.out = append(p.out, ',')
			p.ws()
		case '}':
			p.i++
			p.out = append(p.out, '}')
			return nil
		default:
			return p.fail(reasonSyntax)
		}
	}
}

func (p *parser) array(depth int) error {
	if depth > MaxJSONDepth {
		return p.fail(reasonDepth)
	}
	p.i++ // '['
	p.out = append(p.out, '[')
	p.ws()
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.i++
		p.out = append(p.out, ']')
		return nil
	}
	for {
		if err := p.value(depth); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.src) {
			return p.fail(reasonSyntax)
		}
		switch p.src[p.i] {
		case ',':
			p.i++
			p.out = append(p.out, ',')
			p.ws()
		case ']':
			p.i++
			p.out = append(p.out, ']')
			return nil
		default:
			return p.fail(reasonSyntax)
		}
	}
}

// str parses a string, writes its canonical encoding and returns its
// canonical bytes (quotes included), which identify the decoded string.
func (p *parser) str() (string, error) {
	start := len(p.out)
	p.i++ // '"'
	p.out = append(p.out, '"')
	for {
		if p.i >= len(p.src) {
			return "", p.fail(reasonSyntax)
		}
		c := p.src[p.i]
		switch {
		case c == '"':
			p.i++
			p.out = append(p.out, '"')
			return string(p.out[start:]), nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			p.rune(r)
		case c < 0x20:
			return "", p.fail(reasonControlChr)
		case c < utf8.RuneSelf:
			// A run of plain ASCII is copied at once.
			j := p.i + 1
			for j < len(p.src) && p.src[j] >= 0x20 && p.src[j] < utf8.RuneSelf && p.src[j] != '"' && p.src[j] != '\\' {
				j++
			}
			p.out = append(p.out, p.src[p.i:j]...)
			p.i = j
		default:
			r, n := utf8.DecodeRune(p.src[p.i:])
			if r == utf8.RuneError && n <= 1 {
				// Also refuses the UTF-8 encodings of surrogates (ED A0..BF xx).
				return "", p.fail(reasonUTF8)
			}
			p.out = append(p.out, p.src[p.i:p.i+n]...)
			p.i += n
		}
	}
}

// escape decodes the escape sequence at p.i; a \u escape of a surrogate
// must be a high one followed by a \u escape of a low one.
func (p *parser) escape() (rune, error) {
	if p.i+1 >= len(p.src) {
		return 0, p.fail(reasonSyntax)
	}
	c := p.src[p.i+1]
	if c != 'u' {
		p.i += 2
		switch c {
		case '"', '\\', '/':
			return rune(c), nil
		case 'b':
			return '\b', nil
		case 'f':
			return '\f', nil
		case 'n':
			return '\n', nil
		case 'r':
			return '\r', nil
		case 't':
			return '\t', nil
		}
		p.i -= 2
		return 0, p.fail(reasonSyntax)
	}
	at := p.i
	r, ok := p.hex4()
	if !ok {
		return 0, p.fail(reasonSyntax)
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r >= 0xDC00 {
		return 0, &jsonError{offset: at, reason: reasonSurrogate}
	}
	if p.i+1 < len(p.src) && p.src[p.i] == '\\' && p.src[p.i+1] == 'u' {
		save := p.i
		lo, ok := p.hex4()
		if !ok {
			return 0, p.fail(reasonSyntax)
		}
		if lo >= 0xDC00 && lo <= 0xDFFF {
			return utf16.DecodeRune(r, lo), nil
		}
		p.i = save
	}
	return 0, &jsonError{offset: at, reason: reasonSurrogate}
}

// hex4 reads `\uXXXX` at p.i.
func (p *parser) hex4() (rune, bool) {
	if len(p.src)-p.i < 6 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.src[p.i+2:p.i+6]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 6
	return rune(v), true
}

// rune writes r inside a string in its canonical encoding.
func (p *parser) rune(r rune) {
	const hex = "0123456789abcdef"
	switch r {
	case '"':
		p.out = append(p.out, '\\', '"')
	case '\\':
		p.out = append(p.out, '\\', '\\')
	case '\b':
		p.out = append(p.out, '\\', 'b')
	case '\f':
		p.out = append(p.out, '\\', 'f')
	case '\n':
		p.out = append(p.out, '\\', 'n')
	case '\r':
		p.out = append(p.out, '\\', 'r')
	case '\t':
		p.out = append(p.out, '\\', 't')
	default:
		if r < 0x20 {
			p.out = append(p.out, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
			return
		}
		p.out = utf8.AppendRune(p.out, r)
	}
}

// number checks a number's grammar and range and writes it as written.
func (p *parser) number() error {
	start := p.i
	if p.src[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.src) && p.src[p.i] == '0':
		p.i++
	case p.i < len(p.src) && p.src[p.i] >= '1' && p.src[p.i] <= '9':
		p.digits()
	default:
		return p.fail(reasonSyntax)
	}
	if p.i < len(p.src) && p.src[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return p.fail(reasonSyntax)
		}
	}
	if p.i < len(p.src) && (p.src[p.i] == 'e' || p.src[p.i] == 'E') {
		p.i++
		if p.i < len(p.src) && (p.src[p.i] == '+' || p.src[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.fail(reasonSyntax)
		}
	}
	lit := p.src[start:p.i]
	// Decoders that read numbers as float64 (JavaScript, Go's any) fail on
	// values beyond its range; precision loss they accept, so it is allowed.
	if _, err := strconv.ParseFloat(string(lit), 64); err != nil {
		return &jsonError{offset: start, reason: reasonNumber}
	}
	p.out = append(p.out, lit...)
	return nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.src) && p.src[p.i] >= '0' && p.src[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// names is the set of member names of one object. Most objects are small,
// so a slice is searched until it grows large enough for a map.
type names struct {
	list []string
	set  map[string]struct{}
}

// add reports whether name was new.
func (n *names) add(name string) bool {
	if n.set != nil {
		if _, dup := n.set[name]; dup {
			return false
		}
		n.set[name] = struct{}{}
		return true
	}
	for _, s := range n.list {
		if s == name {
			return false
		}
	}
	n.list = append(n.list, name)
	if len(n.list) > 16 {
		n.set = make(map[string]struct{}, 2*len(n.list))
		for _, s := range n.list {
			n.set[s] = struct{}{}
		}
		n.list = nil
	}
	return true
}
