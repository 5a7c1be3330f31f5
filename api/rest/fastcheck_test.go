package rest

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/tetherim/tether"
)

// TestFastCheck_AgreesWithTheSpecValidator keeps the compiled checker of
// the hot push routes (fastcheck.go) in step with openapi.yaml: on valid
// bodies and on bodies breaking every constraint of the schemas, it accepts
// exactly what kin-openapi's validation of the same operation accepts.
func TestFastCheck_AgreesWithTheSpecValidator(t *testing.T) {
	ctx := context.Background()
	doc, err := loadSpec(ctx, tether.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("1,", 999) + "1"
	tooBig := strings.Repeat("1,", 1000) + "1"
	pushes := []string{
		`{"user_ids":[1],"payload":{}}`,
		`{"user_ids":[1,2,3],"payload":{"a":{"b":[1,null,"x"]}},"platforms":["ios","web"],"ttl_seconds":60,"collapse_key":"c","idempotency_key":"i","persist":true}`,
		`{"user_ids":[` + big + `],"payload":{}}`,
		`{"user_ids":[1e2],"payload":{}}`,
		`{"user_ids":[9223372036854775807],"payload":{}}`,
		`{"user_ids":[1],"payload":{},"collapse_key":"` + strings.Repeat("é", 64) + `"}`,
		`{"user_ids":[1],"payload":{},"idempotency_key":"` + strings.Repeat("k", 128) + `"}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":2419200}`,
		`{"user_ids":[1],"payload":{},"platforms":[]}`,
		`{"user_ids":[1],"payload":{},"platforms":["ios","android","web","desktop","server","other"]}`,
		`{"user_ids":[1],"payload":{"deep":` + strings.Repeat(`{"a":`, 400) + `1` + strings.Repeat(`}`, 400) + `}}`,
		// broken:
		`{"user_ids":[],"payload":{}}`,
		`{"user_ids":[` + tooBig + `],"payload":{}}`,
		`{"user_ids":[0],"payload":{}}`,
		`{"user_ids":[-1],"payload":{}}`,
		`{"user_ids":[1.5],"payload":{}}`,
		`{"user_ids":["1"],"payload":{}}`,
		`{"user_ids":1,"payload":{}}`,
		`{"user_ids":null,"payload":{}}`,
		`{"payload":{}}`,
		`{"user_ids":[1]}`,
		`{"user_ids":[1],"payload":null}`,
		`{"user_ids":[1],"payload":[1]}`,
		`{"user_ids":[1],"payload":"x"}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":0}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":2419201}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":1.5}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":null}`,
		`{"user_ids":[1],"payload":{},"ttl_seconds":"60"}`,
		`{"user_ids":[1],"payload":{},"platforms":["tv"]}`,
		`{"user_ids":[1],"payload":{},"platforms":["ios","ios","ios","ios","ios","ios","ios"]}`,
		`{"user_ids":[1],"payload":{},"platforms":"ios"}`,
		`{"user_ids":[1],"payload":{},"platforms":null}`,
		`{"user_ids":[1],"payload":{},"collapse_key":"` + strings.Repeat("é", 65) + `"}`,
		`{"user_ids":[1],"payload":{},"collapse_key":5}`,
		`{"user_ids":[1],"payload":{},"idempotency_key":"` + strings.Repeat("k", 129) + `"}`,
		`{"user_ids":[1],"payload":{},"persist":"yes"}`,
		`{"user_ids":[1],"payload":{},"persist":null}`,
		`{"user_ids":[1],"payload":{},"extra":1}`,
		`{"USER_IDS":[1],"payload":{}}`,
		`[{"user_ids":[1],"payload":{}}]`,
		`null`,
		`{"user_ids":[1],"payload":{}`,
	}
	bodies := map[string][]string{"/v1/push": pushes}
	many := strings.Repeat(`{"user_ids":[1],"payload":{}},`, 499) + `{"user_ids":[1],"payload":{}}`
	batch := []string{`{"pushes":[]}`, `{"pushes":[` + many + `]}`, `{"pushes":[` + many + `,{"user_ids":[1],"payload":{}}]}`,
		`{}`, `{"pushes":null}`, `{"pushes":{}}`, `{"pushes":[{"user_ids":[1],"payload":{}}],"x":1}`}
	for _, p := range pushes {
		batch = append(batch, `{"pushes":[{"user_ids":[2],"payload":{"ok":true}},`+p+`]}`)
	}
	bodies["/v1/push/batch"] = batch
	opts := validationOptions()
	for path, list := range bodies {
		route, err := specRoute(doc, http.MethodPost, path)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := compileBodyCheck(route.Operation, path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "text/plain"} {
			for _, body := range append(list, "") {
				r, _ := http.NewRequest(http.MethodPost, "http://x"+path, bytes.NewReader([]byte(body)))
				r.Header.Set("Content-Type", ct)
				kin := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{Request: r, Route: route, Options: opts})
				mine := fast.checkBody(ct, []byte(body))
				if (kin == nil) != (mine == nil) {
					short := body
					if len(short) > 200 {
						short = short[:200] + "..."
					}
					t.Errorf("%s (%s) %s: spec validator %v, fast checker %v", path, ct, short, kin, mine)
				}
			}
		}
	}
}

// TestFastCheck_RefusesTrailingData: kin-openapi reads the first JSON value
// and leaves data after it to the handler's decodeJSON (400 invalid); the
// fast checker refuses it itself, with the same answer.
func TestFastCheck_RefusesTrailingData(t *testing.T) {
	doc, err := loadSpec(context.Background(), tether.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	route, err := specRoute(doc, http.MethodPost, "/v1/push")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := compileBodyCheck(route.Operation, "/v1/push")
	if err != nil {
		t.Fatal(err)
	}
	if fast.checkBody("application/json", []byte(`{"user_ids":[1],"payload":{}} {}`)) == nil {
		t.Fatal("trailing data accepted")
	}
}

// TestFastCheck_RefusesSchemasItDoesNotKnow: a keyword the compiler does not
// know is an error at start, never a constraint silently skipped.
func TestFastCheck_RefusesSchemasItDoesNotKnow(t *testing.T) {
	spec := strings.Replace(string(tether.OpenAPI), "          maxItems: 1000\n", "          maxItems: 1000\n          uniqueItems: true\n", 1)
	if spec == string(tether.OpenAPI) {
		t.Fatal("the spec no longer has the line this test edits")
	}
	doc, err := loadSpec(context.Background(), []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	route, err := specRoute(doc, http.MethodPost, "/v1/push")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compileBodyCheck(route.Operation, "/v1/push"); err == nil || !strings.Contains(err.Error(), "/user_ids") {
		t.Fatalf("compiling a schema with uniqueItems: %v", err)
	}
}
