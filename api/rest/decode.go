package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetherim/tether"
)

// decodeJSON decodes exactly one JSON object from r into v, rejecting
// unknown fields and trailing data. The spec validation already ran; this is
// the second line of defence that keeps handlers safe if the two diverge.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tether.Errorf(tether.EINVALID, "request body: %s", jsonErrorText(err))
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return tether.Errorf(tether.EINVALID, "request body: unexpected data after the JSON value")
	}
	return nil
}

// invalidUTF8Detail says where b (a JSON body) stops being UTF-8: the byte
// offset, and the top-level member whose value holds it when there is one.
func invalidUTF8Detail(b []byte) string {
	at := 0
	for at < len(b) {
		r, n := utf8.DecodeRune(b[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err == nil && t == json.Delim('{') {
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				break
			}
			start := dec.InputOffset()
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				break
			}
			if name, ok := key.(string); ok && int(start) <= at && at < int(dec.InputOffset()) && printableName(name) {
				return fmt.Sprintf("%s: invalid UTF-8 at byte %d", name, at)
			}
		}
	}
	return fmt.Sprintf("invalid UTF-8 at byte %d", at)
}

// printableName reports a short ASCII member name, safe to echo.
func printableName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// jsonErrorText describes a decoding error without echoing input values.
func jsonErrorText(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "a JSON object is required"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON is truncated"
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("expected a JSON %s, got %s", typ.Type.Kind(), typ.Value)
		}
		return fmt.Sprintf("field %q must be a %s, got %s", typ.Field, typ.Type.Kind(), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return "malformed JSON"
	}
}

// parseUserID parses the id path parameter of a user: an integer from 1.
func parseUserID(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 {
		return 0, tether.Errorf(tether.EINVALID, "path parameter \"id\" must be an integer from 1 to %d", int64(1<<63-1))
	}
	return v, nil
}

// parseSince parses the since query parameter of sync; absent means 0.
func parseSince(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, tether.Errorf(tether.EINVALID, "query parameter \"since\" must be an integer from 0 to %d", uint64(1)<<63-1)
	}
	return v, nil
}

// parseLimit parses a limit query parameter; absent means tether.DefaultPageSize.
func parseLimit(s string) (int, error) {
	if s == "" {
		return tether.DefaultPageSize, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > tether.MaxPageSize {
		return 0, tether.Errorf(tether.EINVALID, "query parameter \"limit\" must be an integer from 1 to %d", tether.MaxPageSize)
	}
	return v, nil
}

// historyQuery builds the history query from its parameters; at most one
// of before and after may be given.
func historyQuery(before, after, limit string) (tether.HistoryQuery, error) {
	n, err := parseLimit(limit)
	if err != nil {
		return tether.HistoryQuery{}, err
	}
	if before != "" && after != "" {
		return tether.HistoryQuery{}, tether.Errorf(tether.EINVALID, "query parameters \"before\" and \"after\" cannot be used together")
	}
	return tether.HistoryQuery{Before: before, After: after, Limit: n}, nil
}
