// docs/architecture.md is the map of the tree; code moves, and a map that
// names places that are gone misleads more than no map. This test holds
// every path it names to the tree.

package tether_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestArchitectureDoc_NamesOnlyPathsThatExist(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	// Paths inside the repository: a top-level directory, a slash, more.
	// Not after a slash: /v1/push/batch is a URL, not a directory.
	pathRE := regexp.MustCompile(`(?:^|[^/\w])((?:api|push|shared|internal|sql|cmd|docs|contract|deployments)/[A-Za-z0-9_./*-]*[A-Za-z0-9_*])`)
	seen := map[string]bool{}
	for _, m := range pathRE.FindAllStringSubmatch(string(doc), -1) {
		p := m[1]
		if seen[p] {
			continue
		}
		seen[p] = true
		matches, err := filepath.Glob(p)
		if err != nil || len(matches) == 0 {
			t.Errorf("docs/architecture.md names %s, which does not exist", p)
		}
	}
	// Root files of the domain, named in backquotes.
	for _, m := range regexp.MustCompile("`([a-z_]+\\.go)`").FindAllStringSubmatch(string(doc), -1) {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("docs/architecture.md names %s, which is not at the root", m[1])
		}
	}
	if len(seen) < 20 {
		t.Fatalf("found only %d paths in docs/architecture.md; is the pattern still right?", len(seen))
	}
}

// Every package has a place on the map: a new package that is not on it
// fails here until someone says where it fits.
func TestArchitectureDoc_NamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		// A vendored module under third_party/ is one entry on the map; its
		// own packages are not ours to describe.
		if filepath.ToSlash(filepath.Dir(path)) == "third_party" {
			if !strings.Contains(string(doc), filepath.ToSlash(path)) {
				t.Errorf("vendored module %s is not on docs/architecture.md", filepath.ToSlash(path))
			}
			return filepath.SkipDir
		}
		if path == "." || !hasGoFiles(path) {
			return nil
		}
		if !strings.Contains(string(doc), filepath.ToSlash(path)) {
			t.Errorf("package %s is not on docs/architecture.md", filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hasGoFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			return true
		}
	}
	return false
}
