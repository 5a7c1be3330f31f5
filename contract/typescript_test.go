package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The TypeScript client, typed by openapi-typescript from the current spec
// and compiled by strict tsc (a type error fails the build), runs the flow
// of src/e2e.ts against a real `tether dev` under node.
func TestTypeScriptClient_FlowAgainstDev(t *testing.T) {
	t.Parallel()
	nodeModules(t)
	base := startDev(t)
	// Generated at test time, never committed: it cannot drift.
	npx(t, nil, "openapi-typescript", "../"+specPath, "-o", filepath.Join("src", "schema.d.ts"))
	if err := os.RemoveAll(filepath.Join(tsDir, "dist")); err != nil {
		t.Fatal(err)
	}
	npx(t, nil, "tsc", "-p", "tsconfig.json")
	out := npx(t, []string{"TETHER_API_URL=" + base}, "node", filepath.Join("dist", "e2e.js"))
	if !strings.Contains(out, "e2e: ok") {
		t.Fatalf("e2e did not finish:\n%s", out)
	}
}
