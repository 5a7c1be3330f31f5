package config

import (
	"os"
	"strings"
	"testing"
)

// README.md's settings tables are generated from the declarations; this test
// keeps them from drifting. To refresh one, paste the output of Markdown.
func TestREADME_DocumentsEverySettingAsDeclared(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range All() {
		want := "### tether " + s.Command + "\n\n" + Markdown(s)
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks the current settings table of tether %s; it should contain:\n%s", s.Command, want)
		}
	}
}
