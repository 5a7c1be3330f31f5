package contract

import (
	"strings"
	"testing"
)

// openapi.yaml passes Spectral's spectral:oas ruleset (contract/.spectral.yaml)
// with warnings counted as failures.
func TestSpectral_SpecLintsCleanWithWarningsFailing(t *testing.T) {
	t.Parallel()
	nodeModules(t)
	out := npx(t, nil, "spectral", "lint", "--ruleset", "../.spectral.yaml", "--fail-severity=warn", "../"+specPath)
	if !strings.Contains(out, "No results") {
		t.Fatalf("spectral reported findings:\n%s", out)
	}
}
