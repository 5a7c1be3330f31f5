package rest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// Chat send and sync can never be turned off by a degradation switch: their
// handlers do not reach the live switches at all, neither the package nor
// any of the server's helpers that read them. Adding such a call to send or
// sync fails this test.
func TestDegradation_SendAndSyncNeverConsultASwitch(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]bool{
		"switches": true, "switchOn": true, "registry": true, "degradedFor": true,
		"degradedForService": true, "historyLimit": true,
	}
	found := map[string]bool{}
	for _, p := range pkgs {
		for name, f := range p.Files {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv == nil || (fn.Name.Name != "send" && fn.Name.Name != "sync") {
					continue
				}
				found[fn.Name.Name] = true
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok && forbidden[id.Name] {
						t.Errorf("%s: %s reaches the switches through %s", fset.Position(id.Pos()), fn.Name.Name, id.Name)
					}
					return true
				})
				_ = name
			}
		}
	}
	if !found["send"] || !found["sync"] {
		t.Fatalf("handlers not found: %v", found)
	}
}
