package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// firstDeclared is the first migration that records itself in schema_changes.
const firstDeclared = 9

// Every migration from 9 on declares its kind in schema_changes in its Up
// section, in both dialects: an undeclared one would make every older
// binary refuse the schema (CheckWindow), which is safe but stops a rolling
// upgrade.
func TestMigrations_EachNewOneDeclaresItsKind(t *testing.T) {
	for _, dialect := range []string{MySQL, SQLite} {
		entries, err := fs.ReadDir(files, dialect)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if path.Ext(e.Name()) != ".sql" {
				continue
			}
			v, err := goose.NumericComponent(e.Name())
			if err != nil || v < firstDeclared {
				continue
			}
			b, err := fs.ReadFile(files, dialect+"/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(b), "-- +goose Down")
			decl := strings.ReplaceAll(up, " ", "")
			expand := fmt.Sprintf("(%d,'%s'", v, KindExpand)
			contract := fmt.Sprintf("(%d,'%s'", v, KindContract)
			if !strings.Contains(decl, "INSERTINTOschema_changes") || (!strings.Contains(decl, expand) && !strings.Contains(decl, contract)) {
				t.Errorf("%s/%s: its Up section does not record (%d, 'expand'|'contract', ...) in schema_changes", dialect, e.Name(), v)
			}
		}
	}
}
