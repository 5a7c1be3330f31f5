package switches

import (
	"fmt"
	"math"
	"testing"
)

func pct(p float64) *float64 { return &p }

func TestRollout_TenPercentCoversTenPercentOfUsers(t *testing.T) {
	r := NewRegistry(Catalogue)
	install(t, r, State{Name: Presence, Value: "on", Rules: &Rules{Percent: pct(10)}})
	in := 0
	for uid := int64(1); uid <= 10000; uid++ {
		if r.Enabled(Presence, Subject{UserID: uid}) {
			in++
		}
	}
	if got := float64(in) / 100; math.Abs(got-10) > 2 {
		t.Fatalf("a 10%% rollout selected %.2f%% of 10,000 users, want 10%% ± 2%%", got)
	}
	t.Logf("a 10%% rollout selected %d of 10,000 users", in)
}

func TestRollout_RaisingThePercentageKeepsEveryoneAlreadyIn(t *testing.T) {
	steps := []float64{1, 5, 10, 20, 50, 100}
	var prev map[int64]bool
	for i, p := range steps {
		r := NewRegistry(Catalogue)
		install(t, r, State{Name: Presence, Value: "on", Rules: &Rules{Percent: pct(p)}})
		cur := map[int64]bool{}
		for uid := int64(1); uid <= 10000; uid++ {
			if r.Enabled(Presence, Subject{UserID: uid}) {
				cur[uid] = true
			}
		}
		for uid := range prev {
			if !cur[uid] {
				t.Fatalf("user %d was in at %v%% and out at %v%%", uid, steps[i-1], p)
			}
		}
		if p == 100 && len(cur) != 10000 {
			t.Fatalf("100%% selected %d of 10,000 users", len(cur))
		}
		prev = cur
	}
}

func TestRollout_PercentSwitchSelectsItsShareStably(t *testing.T) {
	defs := []Def{{Name: "p", Kind: KindPercent, Scope: AdminScope}}
	at := func(v string) map[int64]bool {
		r := NewRegistry(defs)
		install(t, r, State{Name: "p", Value: v})
		m := map[int64]bool{}
		for uid := int64(1); uid <= 10000; uid++ {
			if r.Enabled("p", Subject{UserID: uid}) {
				m[uid] = true
			}
		}
		return m
	}
	five, twenty := at("5%"), at("20")
	if math.Abs(float64(len(twenty))/100-20) > 2 {
		t.Fatalf("a 20%% switch selected %d of 10,000", len(twenty))
	}
	for uid := range five {
		if !twenty[uid] {
			t.Fatalf("user %d in at 5%% is out at 20%%", uid)
		}
	}
}

func TestRollout_DifferentSwitchesSelectDifferentUsers(t *testing.T) {
	same := 0
	for uid := int64(1); uid <= 10000; uid++ {
		if (Bucket("a", uid) < 1000) == (Bucket("b", uid) < 1000) {
			same++
		}
	}
	// Independent 10% selections agree on about 82% of users; identical ones on all.
	if same > 9000 {
		t.Fatalf("two switches' 10%% agree on %d of 10,000 users: the hash ignores the name", same)
	}
}

func TestRules_EvaluationOrder(t *testing.T) {
	rules := &Rules{
		Platforms:     []string{"ios"},
		MinAppVersion: "2.0", MaxAppVersion: "3.1",
		AllowUsers: []int64{7}, DenyUsers: []int64{8},
		Nodes: []string{"n1"},
	}
	ok := Subject{UserID: 1, Platform: "iOS", AppVersion: "ios/2.5.1", Node: "n1"}
	cases := []struct {
		name  string
		value string
		s     Subject
		want  bool
	}{
		{"all rules pass", "on", ok, true},
		{"off beats the allow list", "off", Subject{UserID: 7}, false},
		{"allow list beats the other rules", "on", Subject{UserID: 7}, true},
		{"deny list beats everything", "on", Subject{UserID: 8, Platform: "ios", AppVersion: "2.5", Node: "n1"}, false},
		{"other node", "on", Subject{UserID: 1, Platform: "ios", AppVersion: "2.5", Node: "n2"}, false},
		{"other platform", "on", Subject{UserID: 1, Platform: "android", AppVersion: "2.5", Node: "n1"}, false},
		{"version below", "on", Subject{UserID: 1, Platform: "ios", AppVersion: "1.9.9", Node: "n1"}, false},
		{"version above", "on", Subject{UserID: 1, Platform: "ios", AppVersion: "3.2", Node: "n1"}, false},
		{"version at max", "on", Subject{UserID: 1, Platform: "ios", AppVersion: "3.1.0", Node: "n1"}, true},
		{"unknown version (old client)", "on", Subject{UserID: 1, Platform: "ios", Node: "n1"}, false},
	}
	for _, c := range cases {
		r := NewRegistry(Catalogue)
		install(t, r, State{Name: Signals, Value: c.value, Rules: rules})
		if got := r.Enabled(Signals, c.s); got != c.want {
			t.Errorf("%s: Enabled = %v, want %v", c.name, got, c.want)
		}
	}
}

// The push API's callers are a rollout dimension of their own: a key can be
// denied or allowed by id, and a percentage of callers is a stable set of
// keys (a caller has no user id, so bucketing by user would put every key
// in the same bucket).
func TestRules_APIKeysAreARolloutDimension(t *testing.T) {
	cases := []struct {
		name  string
		rules *Rules
		s     Subject
		want  bool
	}{
		{"denied key", &Rules{DenyAPIKeys: []string{"k_bad"}}, Subject{APIKey: "k_bad"}, false},
		{"other keys pass a deny list", &Rules{DenyAPIKeys: []string{"k_bad"}}, Subject{APIKey: "k_good"}, true},
		{"allowed key beats a 0% rollout", &Rules{Percent: pct(0), AllowAPIKeys: []string{"k_new"}}, Subject{APIKey: "k_new"}, true},
		{"other keys stay out of a 0% rollout", &Rules{Percent: pct(0), AllowAPIKeys: []string{"k_new"}}, Subject{APIKey: "k_old"}, false},
		{"a key list never selects a user", &Rules{Percent: pct(0), AllowAPIKeys: []string{"k_new"}}, Subject{UserID: 5}, false},
		{"key deny beats user allow", &Rules{AllowUsers: []int64{5}, DenyAPIKeys: []string{"k_bad"}}, Subject{UserID: 5, APIKey: "k_bad"}, false},
	}
	for _, c := range cases {
		r := NewRegistry(Catalogue)
		install(t, r, State{Name: PushAPI, Value: "on", Rules: c.rules})
		if got := r.Enabled(PushAPI, c.s); got != c.want {
			t.Errorf("%s: Enabled = %v, want %v", c.name, got, c.want)
		}
	}

	var prev map[string]bool
	for _, p := range []float64{10, 30, 100} {
		r := NewRegistry(Catalogue)
		install(t, r, State{Name: PushAPI, Value: "on", Rules: &Rules{Percent: pct(p)}})
		cur := map[string]bool{}
		for i := range 10000 {
			if k := fmt.Sprintf("k_%016x", i); r.Enabled(PushAPI, Subject{APIKey: k}) {
				cur[k] = true
			}
		}
		if got := float64(len(cur)) / 100; math.Abs(got-p) > 2 {
			t.Fatalf("a %v%% rollout selected %.2f%% of 10,000 keys", p, got)
		}
		for k := range prev {
			if !cur[k] {
				t.Fatalf("key %s was in and is out at %v%%", k, p)
			}
		}
		prev = cur
	}
}

func TestRules_ValidateRefusesNonsense(t *testing.T) {
	for _, r := range []*Rules{
		{Percent: pct(101)}, {Percent: pct(-1)}, {Percent: pct(math.NaN())},
		{MinAppVersion: "abc"}, {MinAppVersion: "3", MaxAppVersion: "2"},
		{AllowAPIKeys: []string{""}}, {DenyAPIKeys: []string{"k_1", ""}},
	} {
		if r.Validate() == nil {
			t.Errorf("Validate(%+v) accepted it", *r)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"2.1", "2.1.0", 0}, {"2.10", "2.9", 1}, {"v1.2-beta", "1.2", 0}, {"t/1", "1", 0}, {"1", "1.0.1", -1}} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
