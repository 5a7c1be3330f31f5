package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

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
