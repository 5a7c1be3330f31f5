package rest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/tidwall/gjson"

	"github.com/tetherim/tether"
)

// Fast contract checks for the push API's hot routes (POST /v1/push and
// /v1/push/batch). kin-openapi's validation decodes each body into maps and
// walks the schema per request: a tenth of a single push's CPU, more for a
// batch. These routes are checked instead by a checker compiled once from
// the same operation's JSON schema in openapi.yaml, so every limit still
// has one home, over one scan of the body (gjson: no tree is built, and
// what the schema leaves open, the payload, is skipped, not decoded). The compiler knows the keywords
// these schemas use and refuses any other, so a spec change that needs
// more fails at start (New) instead of being skipped;
// TestFastCheck_AgreesWithTheSpecValidator holds it to kin-openapi's
// verdict on valid and invalid bodies of every kind.

// fastRoutes are the routes checked by a compiled checker.
var fastRoutes = map[string]bool{"POST /v1/push": true, "POST /v1/push/batch": true}

// node is one compiled schema.
type node struct {
	typ        string // object, array, integer, number, string, boolean; "" any
	props      map[string]*node
	additional bool // object: other properties allowed
	required   []string
	items      *node
	minItems   uint64
	maxItems   *uint64
	min, max   *float64
	int64Only  bool
	minLen     uint64
	maxLen     *uint64
	enum       []string
}

// compileSchema compiles s, or says which keyword it does not support.
func compileSchema(s *openapi3.Schema, at string) (*node, error) {
	switch {
	case len(s.OneOf) > 0 || len(s.AnyOf) > 0 || len(s.AllOf) > 0 || s.Not != nil,
		s.Pattern != "", s.UniqueItems, s.MultipleOf != nil, s.MinProps > 0, s.MaxProps != nil,
		s.Nullable, s.Discriminator != nil, s.Const != nil, len(s.PrefixItems) > 0, s.Contains != nil,
		len(s.PatternProperties) > 0, s.PropertyNames != nil, s.If != nil, len(s.DependentRequired) > 0,
		s.ExclusiveMin != (openapi3.ExclusiveBound{}), s.ExclusiveMax != (openapi3.ExclusiveBound{}):
		return nil, fmt.Errorf("rest: fast check: %s uses a keyword the fast checker does not know", at)
	}
	n := &node{
		minItems: s.MinItems, maxItems: s.MaxItems, min: s.Min, max: s.Max,
		minLen: s.MinLength, maxLen: s.MaxLength, required: s.Required, additional: true,
	}
	if s.Type != nil {
		ts := s.Type.Slice()
		if len(ts) > 1 {
			return nil, fmt.Errorf("rest: fast check: %s has several types", at)
		}
		if len(ts) == 1 {
			n.typ = ts[0]
		}
	}
	switch s.Format {
	case "", "int32", "double", "float":
	case "int64":
		n.int64Only = true
	default:
		return nil, fmt.Errorf("rest: fast check: %s has format %q", at, s.Format)
	}
	for _, e := range s.Enum {
		str, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("rest: fast check: %s has a non-string enum", at)
		}
		n.enum = append(n.enum, str)
	}
	if s.Items != nil {
		var err error
		if n.items, err = compileSchema(s.Items.Value, at+"/items"); err != nil {
			return nil, err
		}
	}
	if len(s.Properties) > 0 {
		n.props = map[string]*node{}
		for name, p := range s.Properties {
			c, err := compileSchema(p.Value, at+"/"+name)
			if err != nil {
				return nil, err
			}
			n.props[name] = c
		}
	}
	if ap := s.AdditionalProperties; ap.Schema != nil {
		return nil, fmt.Errorf("rest: fast check: %s has an additionalProperties schema", at)
	} else if ap.Has != nil {
		n.additional = *ap.Has
	}
	return n, nil
}

// check reports the first way v breaks n, as "<json pointer>: <reason>".
func (n *node) check(v gjson.Result, at string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{at}, args...)...)
	}
	isObject := v.Type == gjson.JSON && v.Raw[0] == '{'
	isArray := v.Type == gjson.JSON && v.Raw[0] == '['
	switch n.typ {
	case "":
	case "object":
		if !isObject {
			return fail("value must be an object")
		}
	case "array":
		if !isArray {
			return fail("value must be an array")
		}
	case "integer", "number":
		if v.Type != gjson.Number {
			return fail("value must be a number")
		}
	case "string":
		if v.Type != gjson.String {
			return fail("value must be a string")
		}
	case "boolean":
		if v.Type != gjson.True && v.Type != gjson.False {
			return fail("value must be a boolean")
		}
	}
	var err error
	switch {
	case isObject && (n.props != nil || !n.additional || len(n.required) > 0):
		var seen []string
		v.ForEach(func(k, pv gjson.Result) bool {
			if p := n.props[k.Str]; p != nil {
				err = p.check(pv, at+"/"+k.Str)
			} else if !n.additional {
				err = fail("property %q is unsupported", k.Str)
			}
			if slices.Contains(n.required, k.Str) {
				seen = append(seen, k.Str)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
		for _, r := range n.required {
			if !slices.Contains(seen, r) {
				return fail("property %q is missing", r)
			}
		}
	case isArray:
		var count uint64
		v.ForEach(func(_, it gjson.Result) bool {
			if n.items != nil {
				err = n.items.check(it, at+"/"+strconv.FormatUint(count, 10))
			}
			count++
			return err == nil
		})
		if err != nil {
			return err
		}
		if count < n.minItems {
			return fail("minimum number of items is %d", n.minItems)
		}
		if n.maxItems != nil && count > *n.maxItems {
			return fail("maximum number of items is %d", *n.maxItems)
		}
	case v.Type == gjson.Number:
		f := v.Num
		if n.typ == "integer" {
			if f != math.Trunc(f) || math.IsInf(f, 0) {
				return fail("value must be an integer")
			}
			if n.int64Only && (f < math.MinInt64 || f > math.MaxInt64) {
				return fail("number must be an int64")
			}
		}
		if n.min != nil && f < *n.min {
			return fail("number must be at least %g", *n.min)
		}
		if n.max != nil && f > *n.max {
			return fail("number must be at most %g", *n.max)
		}
	case v.Type == gjson.String:
		runes := uint64(utf8.RuneCountInString(v.Str))
		if runes < n.minLen {
			return fail("minimum string length is %d", n.minLen)
		}
		if n.maxLen != nil && runes > *n.maxLen {
			return fail("maximum string length is %d", *n.maxLen)
		}
		if len(n.enum) > 0 && !slices.Contains(n.enum, v.Str) {
			return fail("value is not one of the allowed values %q", n.enum)
		}
	}
	return nil
}

// bodyChecker checks a request body against an operation's JSON request body.
type bodyChecker struct {
	root     *node
	required bool
}

// compileBodyCheck compiles the application/json request body schema of op.
func compileBodyCheck(op *openapi3.Operation, at string) (*bodyChecker, error) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil, fmt.Errorf("rest: fast check: %s has no request body", at)
	}
	rb := op.RequestBody.Value
	if len(rb.Content) != 1 || rb.Content.Get("application/json") == nil || rb.Content.Get("application/json").Schema == nil {
		return nil, fmt.Errorf("rest: fast check: %s takes other than one application/json body", at)
	}
	root, err := compileSchema(rb.Content.Get("application/json").Schema.Value, at)
	if err != nil {
		return nil, err
	}
	return &bodyChecker{root: root, required: rb.Required}, nil
}

var errNotJSON = errors.New("header Content-Type: the request body must be application/json")

// checkBody checks body (already read) with its Content-Type.
func (b *bodyChecker) checkBody(contentType string, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if b.required {
			return errors.New("request body has an error: value is required but missing")
		}
		return nil
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return errNotJSON
	}
	if !gjson.ValidBytes(body) {
		return errors.New("request body has an error: failed to decode request body: not valid JSON")
	}
	if err := b.root.check(gjson.ParseBytes(body), ""); err != nil {
		return fmt.Errorf("request body has an error: doesn't match schema: %v", err)
	}
	return nil
}

// fastValidate is validate for a route with a compiled body checker: the
// body is read, checked, and handed on unchanged.
func (s *Server) fastValidate(b *bodyChecker) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			fail(c, err)
			return
		}
		if err := b.checkBody(c.GetHeader("Content-Type"), body); err != nil {
			writeProblem(c, tether.EINVALID, err.Error())
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		c.Next()
	}
}
