// The direction of dependencies is a rule of the architecture
// (docs/architecture.md): the domain depends on nothing, shared/ on neither
// side, and push nodes do not link the SQL stack. The compiler cannot see
// these rules, so these tests ask the go command.

package tether_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/tetherim/tether"

// goList runs `go list` with args in the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append([]string{"list"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func TestDomain_DependsOnNothing(t *testing.T) {
	for _, p := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".") {
		if p != module {
			t.Errorf("the domain (package tether) depends on %s; it may use the standard library only", p)
		}
	}
}

func TestShared_ImportsNeitherAPINorPush(t *testing.T) {
	lines := goList(t, "-f", `{{.ImportPath}}|{{join .Deps "|"}}`, "./shared/...")
	if len(lines) == 0 {
		t.Fatal("go list found no package under shared/")
	}
	for _, line := range lines {
		deps := strings.Split(line, "|")
		for _, d := range deps[1:] {
			for _, side := range []string{module + "/api", module + "/push"} {
				if d == side || strings.HasPrefix(d, side+"/") {
					t.Errorf("%s depends on %s; shared/ must depend on neither api/ nor push/", deps[0], d)
				}
			}
		}
	}
}

func TestPushNodes_DoNotLinkGorm(t *testing.T) {
	var gorm []string
	for _, p := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./push/...", "./shared/...") {
		if strings.HasPrefix(p, "gorm.io/") {
			gorm = append(gorm, p)
		}
	}
	if len(gorm) > 0 {
		t.Errorf("push/ or shared/ links %v; SQL belongs to api/ (go list -deps ./push/... tells which import pulls it in)", gorm)
	}
}
