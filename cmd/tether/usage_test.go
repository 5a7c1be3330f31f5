package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// hiddenCommands are run's cases a person never types: a process bench
// starts for itself.
var hiddenCommands = map[string]bool{"bench-worker": true}

// commandsOfRun reads the subcommands run dispatches on from main.go, so a
// command added there without a line in the usage fails the test below.
func commandsOfRun(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "run" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			sw, ok := n.(*ast.SwitchStmt)
			if !ok {
				return true
			}
			if id, ok := sw.Tag.(*ast.Ident); !ok || id.Name != "cmd" {
				return true
			}
			for _, s := range sw.Body.List {
				for _, e := range s.(*ast.CaseClause).List {
					lit, ok := e.(*ast.BasicLit)
					if !ok {
						continue
					}
					name, _ := strconv.Unquote(lit.Value)
					if !strings.HasPrefix(name, "-") && !hiddenCommands[name] {
						cmds = append(cmds, name)
					}
				}
			}
			return false
		})
	}
	if len(cmds) < 5 {
		t.Fatalf("found only %v in run's switch", cmds)
	}
	return cmds
}

func TestHelp_ListsEveryCommandAndHelpsWithEach(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(context.Background(), nil, "--help")
	if code != 0 {
		t.Fatalf("--help: code %d", code)
	}
	for _, cmd := range commandsOfRun(t) {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(cmd) + ` +\S`).MatchString(out) {
			t.Errorf("tether --help does not list %q:\n%s", cmd, out)
		}
		if code, out, stderr := runCmd(context.Background(), nil, "help", cmd); code != 0 || out == "" {
			t.Errorf("tether help %s: code %d, out %q, stderr %q", cmd, code, out, stderr)
		}
	}
}

func TestBenchHelp_DescribesEveryScenarioItNames(t *testing.T) {
	t.Parallel()
	help := benchHelp()
	first, _, _ := strings.Cut(help, "\n")
	m := regexp.MustCompile(`tether bench (\S+) `).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("no scenario list in %q", first)
	}
	for _, sc := range strings.Split(m[1], "|") {
		if !regexp.MustCompile(`(?m)^  ` + sc + ` +\S`).MatchString(help) {
			t.Errorf("tether bench names %q but does not describe it", sc)
		}
	}
	// Asked for, the help goes to stdout and succeeds; without a scenario,
	// or with an unknown one, it goes to stderr with an error.
	if code, out, _ := runCmd(context.Background(), nil, "bench", "--help"); code != 0 || out != help {
		t.Errorf("bench --help: code %d, out %q", code, out)
	}
	if code, _, stderr := runCmd(context.Background(), nil, "bench"); code != 1 || !strings.Contains(stderr, help) {
		t.Errorf("bench: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCmd(context.Background(), nil, "bench", "nosuch"); code != 1 || !strings.Contains(stderr, `unknown scenario "nosuch"`) {
		t.Errorf("bench nosuch: code %d, stderr %q", code, stderr)
	}
}

func TestSelfCommand_NamesTheBinaryAsTypedOrGoRun(t *testing.T) {
	for arg0, want := range map[string]string{
		"bin/tether":                       "bin/tether",
		"/usr/local/bin/tether":            "/usr/local/bin/tether",
		"/tmp/go-build123/b001/exe/tether": "go run ./cmd/tether",
	} {
		if got := selfCommand(arg0); got != want {
			t.Errorf("selfCommand(%q) = %q, want %q", arg0, got, want)
		}
	}
}
