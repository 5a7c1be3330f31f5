package rest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
)

// loadSpec parses and validates an OpenAPI document (examples included).
func loadSpec(ctx context.Context, data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("rest: parse openapi: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("rest: invalid openapi: %w", err)
	}
	return doc, nil
}

// specPath translates a gin route path to its OpenAPI form:
// /v1/users/by-name/:username -> /v1/users/by-name/{username}.
func specPath(ginPath string) string {
	parts := strings.Split(ginPath, "/")
	for i, p := range parts {
		if len(p) > 1 && (p[0] == ':' || p[0] == '*') {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// specRoute finds the operation of the spec that a gin route serves.
func specRoute(doc *openapi3.T, method, ginPath string) (*routers.Route, error) {
	path := specPath(ginPath)
	item := doc.Paths.Value(path)
	if item == nil {
		return nil, fmt.Errorf("rest: route %s %s: path %s is not in openapi.yaml", method, ginPath, path)
	}
	op := item.GetOperation(method)
	if op == nil {
		return nil, fmt.Errorf("rest: route %s %s: no %s operation in openapi.yaml", method, ginPath, method)
	}
	return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}, nil
}

// acceptAuthentication satisfies the spec's security requirements during
// validation: tokens are checked by authenticate, which runs first.
func acceptAuthentication(context.Context, *openapi3filter.AuthenticationInput) error { return nil }

// validationOptions are the request validation options of the server.
func validationOptions() *openapi3filter.Options {
	opts := &openapi3filter.Options{
		AuthenticationFunc:                acceptAuthentication,
		RejectWhenRequestBodyNotSpecified: true,
		// Handlers apply the spec's defaults themselves. Setting them here
		// would re-encode the body, turning escaped lone surrogates into
		// U+FFFD and dropping duplicate names before the handler's strict
		// JSON check (tether.CanonicalObject) could refuse them.
		SkipSettingDefaults: true,
	}
	opts.WithCustomSchemaErrorFunc(schemaErrorText)
	return opts
}

// schemaErrorText renders a schema violation as "<json pointer>: <reason>",
// never with the offending value (it may be a password).
func schemaErrorText(err *openapi3.SchemaError) string {
	ptr := err.JSONPointer()
	if len(ptr) == 0 {
		return err.Reason
	}
	return "/" + strings.Join(ptr, "/") + ": " + err.Reason
}

// validate checks the request against the operation it was routed to; a
// request the spec does not allow is answered 400 with a readable detail.
func (s *Server) validate(route *routers.Route) gin.HandlerFunc {
	return func(c *gin.Context) {
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    c.Request,
			PathParams: params,
			Route:      route,
			Options:    s.validation,
		}
		if err := openapi3filter.ValidateRequest(c.Request.Context(), in); err != nil {
			writeProblem(c, tether.EINVALID, validationDetail(err))
			return
		}
		c.Next()
	}
}

// validationDetail makes a caller-safe, readable text of a validation error.
func validationDetail(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return "The request does not match the API description."
	}
	reason := re.Reason
	if re.Err != nil {
		var se *openapi3.SchemaError
		switch {
		case errors.As(re.Err, &se):
			reason = schemaErrorText(se)
		case reason == "":
			reason = re.Err.Error()
		default:
			reason += ": " + re.Err.Error()
		}
	}
	switch {
	case re.Parameter != nil:
		return fmt.Sprintf("%s parameter %q: %s", re.Parameter.In, re.Parameter.Name, reason)
	case re.RequestBody != nil:
		return "request body: " + reason
	default:
		return reason
	}
}
