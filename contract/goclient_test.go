package contract

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed Go client is what oapi-codegen generates from the current
// openapi.yaml: a spec change without `go generate ./contract/goclient` fails.
func TestGoClient_CommittedCodeMatchesSpec(t *testing.T) {
	out := filepath.Join(t.TempDir(), "client.gen.go")
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	defer cancel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	if msg, err := output(ctx, "goclient", gobin, "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", "-o", out, "../"+specPath); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("goclient", "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("contract/goclient/client.gen.go is stale: run `go generate ./contract/goclient` and commit it")
	}
}

// The generated Go client drives a real `tether dev` through every REST
// operation and decodes each success and problem response into its type.
func TestGoClient_FlowAgainstDev(t *testing.T) {
	t.Parallel()
	base := startDev(t)
	runFlow(t, base, base)
	runBreadthFlow(t, base, base)
	noRoute(t, base)
}
