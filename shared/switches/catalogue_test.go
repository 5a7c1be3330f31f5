package switches

import (
	"regexp"
	"testing"
)

// Every entry others add to the catalogue must be usable everywhere: a name
// the REST path accepts, a known kind, a default that survives the text
// form, a description an operator can read.
func TestCatalogue_EveryEntryIsWellFormed(t *testing.T) {
	name := regexp.MustCompile(`^[a-z0-9_.]{1,64}$`)
	NewRegistry(Catalogue) // panics on a duplicate
	for _, d := range Catalogue {
		if !name.MatchString(d.Name) {
			t.Errorf("%q: a name is 1 to 64 of a-z, 0-9, '_' and '.'", d.Name)
		}
		if d.Description == "" || d.Scope == "" {
			t.Errorf("%s: needs a description and a scope", d.Name)
		}
		v, err := Parse(d.Kind, Format(d.Kind, d.Default))
		if err != nil || v != d.Default {
			t.Errorf("%s: default %v does not survive its text form (%v)", d.Name, d.Default, err)
		}
	}
}

func TestDegradations_AreOnOffSwitchesOnByDefault(t *testing.T) {
	r := NewRegistry(Catalogue)
	for _, name := range Degradations {
		d, ok := r.Def(name)
		if !ok || d.Kind != KindBool || d.Default != On(true) {
			t.Errorf("degradation %q: %+v (in catalogue %v)", name, d, ok)
		}
	}
}
