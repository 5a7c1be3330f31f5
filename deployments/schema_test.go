package deployments

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The Kubernetes manifests are validated offline against the JSON Schema of
// the Kubernetes API the project keeps (k8s/schemas/kubernetes.json,
// generated from Kubernetes' own OpenAPI documents by k8s/schemas/gen),
// with a JSON Schema validator (santhosh-tekuri/jsonschema): wrong types,
// missing required fields and, since the schema is strict, misspelt fields
// all fail, as kubeconform -strict would.

// k8sSchema compiles the kept schema and returns a validator per apiVersion/kind.
func k8sSchema(t *testing.T) func(apiVersion, kind string) *jsonschema.Schema {
	t.Helper()
	const path = "k8s/schemas/kubernetes.json"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	c := jsonschema.NewCompiler()
	if err := c.AddResource(abs, doc); err != nil {
		t.Fatal(err)
	}
	index, _ := doc.(map[string]any)["x-kinds"].(map[string]any)
	return func(apiVersion, kind string) *jsonschema.Schema {
		ref, ok := index[apiVersion+"/"+kind].(string)
		if !ok {
			return nil
		}
		s, err := c.Compile(abs + ref)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// asJSON turns a YAML document into the values a JSON decoder gives.
func asJSON(t *testing.T, d map[string]any) any {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKubernetesManifests_ValidAgainstTheKeptSchemaStrictly(t *testing.T) {
	schema := k8sSchema(t)
	files, _ := filepath.Glob("k8s/*.yaml")
	n := 0
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			av, _ := d["apiVersion"].(string)
			kind, _ := d["kind"].(string)
			s := schema(av, kind)
			if s == nil {
				t.Errorf("%s: no schema kept for %s %s (add it to k8s/schemas/gen and regenerate)", f, av, kind)
				continue
			}
			if err := s.Validate(asJSON(t, d)); err != nil {
				t.Errorf("%s: %s %v: %v", f, kind, d["metadata"].(map[string]any)["name"], err)
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("validated %d documents", n)
	}
}

// The validation must be able to fail: a misspelt field, a wrong type and
// a missing required field in copies of a real manifest are each refused.
func TestKubernetesSchema_RefusesMisspeltFieldsWrongTypesAndMissingFields(t *testing.T) {
	schema := k8sSchema(t)
	var pushSet map[string]any
	for _, d := range yamlDocs(t, "k8s/push.yaml") {
		if d["kind"] == "StatefulSet" {
			pushSet = d
		}
	}
	s := schema("apps/v1", "StatefulSet")
	if err := s.Validate(asJSON(t, pushSet)); err != nil {
		t.Fatalf("the real manifest: %v", err)
	}
	for name, mutate := range map[string]func(spec map[string]any){
		"misspelt field": func(spec map[string]any) { spec["replica"] = 2 },
		"wrong type":     func(spec map[string]any) { spec["replicas"] = "two" },
		"missing field":  func(spec map[string]any) { delete(spec, "selector") },
		"misspelt probe": func(spec map[string]any) {
			c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			c["startupprobe"] = c["startupProbe"]
		},
	} {
		var copyDoc map[string]any
		b, _ := json.Marshal(pushSet)
		_ = json.Unmarshal(b, &copyDoc)
		mutate(copyDoc["spec"].(map[string]any))
		if err := s.Validate(asJSON(t, copyDoc)); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
