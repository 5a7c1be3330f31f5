package stream

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// streamCalls are the go-redis methods of the stream protocol.
var streamCalls = regexp.MustCompile(`^X(Add|Read|ReadGroup|ReadStreams|Ack|Claim\w*|AutoClaim\w*|Group\w*|Info\w*|Pending\w*|Trim\w*|Del|Range\w*|RevRange\w*|Len)$`)

// streamCommands are the same commands spelled out, e.g. in Do or a script.
var streamCommands = regexp.MustCompile(`(?i)\bX(ADD|READ|READGROUP|ACK|CLAIM|AUTOCLAIM|GROUP|PENDING|TRIM|DEL|RANGE|REVRANGE|LEN|SETID|INFO)\b`)

// TestOwner_NoOtherProductionPackageTouchesTheStreams keeps this package the
// one home of the stream protocol: no production file outside it calls a
// stream command (XADD, XREADGROUP, XACK, the group commands, ...).
func TestOwner_NoOtherProductionPackageTouchesTheStreams(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	self, _ := filepath.Abs(".")
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case path == self, name == "testdata", name == "vendor", name == "node_modules", strings.HasPrefix(name, ".") && path != root:
				return filepath.SkipDir
			case path == filepath.Join(root, "shared", "metrics"):
				// It times every Redis command by name (a blocking
				// XREADGROUP has no budget) and sends none itself.
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && streamCalls.MatchString(sel.Sel.Name) {
					t.Errorf("%s: calls %s; publish and read jobs through shared/stream", fset.Position(n.Pos()), sel.Sel.Name)
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING && streamCommands.MatchString(n.Value) {
					t.Errorf("%s: names a stream command in %s; publish and read jobs through shared/stream", fset.Position(n.Pos()), n.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("looked at only %d files under %s; the walk is broken", files, root)
	}
}
