package drill

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A drill that cannot see a fault proves nothing: these feed the checks
// known-bad records and require each violation to be found.

// fixture: users 1, 2, 3; group 10 of users 1 and 2.
func fixture() (*load, map[int64]*user) {
	us := map[int64]*user{}
	var list []*user
	for id := int64(1); id <= 3; id++ {
		u := newUser(id, fmt.Sprint("u", id), "t")
		us[id], list = u, append(list, u)
	}
	us[1].groups[10], us[2].groups[10] = true, true
	return newLoad(list, map[int64][]int64{10: {1, 2}}, nil, 1, nil), us
}

func accepted(l *load, phase int, sender *user, to, group int64, cmid string, id int64, at time.Time) *sendRec {
	s := &sendRec{phase: phase, sender: sender, to: to, group: group, cmid: cmid, accepted: at, msgID: id}
	l.sends = append(l.sends, s)
	return s
}

func body(id, sender, recipient, group int64) []byte {
	return fmt.Appendf(nil, `{"kind":"message","message":{"id":%d,"sender_id":%d,"recipient_id":%d,"group_id":%d}}`, id, sender, recipient, group)
}

func kinds(fs []finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.kind)
	}
	return strings.Join(out, ",")
}

func TestCheck_CleanRunHasNoFindings(t *testing.T) {
	l, us := fixture()
	now := time.Now()
	accepted(l, 0, us[1], 2, 0, "a", 100, now)
	accepted(l, 0, us[1], 0, 10, "b", 101, now.Add(time.Millisecond))
	tr := &truth{
		byClient:  map[[2]any][]int64{{int64(1), "a"}: {100}, {int64(1), "b"}: {101}},
		timelines: map[int64][]dbEntry{1: {{1, "message", 100}, {2, "message", 101}}, 2: {{1, "message", 100}, {2, "message", 101}}},
		heads:     map[int64]uint64{1: 2, 2: 2, 3: 0},
		where:     map[int64]map[int64]uint64{100: {1: 1, 2: 1}, 101: {1: 2, 2: 2}},
	}
	for _, uid := range []int64{1, 2} {
		us[uid].pushed(&connLog{seen: map[uint64]bool{}}, 1, body(100, 1, 2, 0), now)
		us[uid].synced(2, body(101, 1, 0, 10), now)
	}
	if fs := check(tr, l); len(fs) != 0 {
		t.Fatalf("findings on a clean run: %+v", fs)
	}
}

func TestCheck_FindsLostDuplicateReorderedGapAndCrossUser(t *testing.T) {
	l, us := fixture()
	now := time.Now()
	accepted(l, 0, us[1], 2, 0, "lost", 100, now)                          // not stored
	accepted(l, 0, us[1], 2, 0, "twice", 101, now.Add(1*time.Millisecond)) // stored twice
	accepted(l, 1, us[2], 1, 0, "first", 102, now.Add(2*time.Millisecond))
	accepted(l, 1, us[2], 1, 0, "second", 103, now.Add(3*time.Millisecond)) // before "first" in user 1's timeline
	accepted(l, 1, us[3], 1, 0, "leak", 104, now.Add(4*time.Millisecond))   // also in user 2's timeline
	tr := &truth{
		byClient: map[[2]any][]int64{
			{int64(1), "twice"}: {101, 105}, {int64(2), "first"}: {102}, {int64(2), "second"}: {103}, {int64(3), "leak"}: {104},
		},
		timelines: map[int64][]dbEntry{
			1: {{1, "message", 101}, {2, "message", 103}, {3, "message", 102}, {4, "message", 104}},
			2: {{1, "message", 101}, {2, "message", 103}, {3, "message", 102}, {5, "message", 104}}, // gap at 4
			3: {{1, "message", 104}},
		},
		heads: map[int64]uint64{1: 4, 2: 5, 3: 1},
		where: map[int64]map[int64]uint64{101: {1: 1, 2: 1}, 102: {1: 3, 2: 3}, 103: {1: 2, 2: 2}, 104: {1: 4, 2: 5, 3: 1}},
	}
	fs := check(tr, l)
	for _, want := range []string{"lost", "duplicate", "reordered", "gap", "cross_user"} {
		if !strings.Contains(kinds(fs), want) {
			t.Errorf("no %s finding in %s", want, kinds(fs))
		}
	}
}

func TestRecord_FlagsForeignEntriesConflictingVersionsAndMessagesUnderTwoVersions(t *testing.T) {
	_, us := fixture()
	u := us[3] // not in group 10
	c := &connLog{seen: map[uint64]bool{}}
	now := time.Now()
	u.pushed(c, 1, body(200, 1, 2, 0), now)  // a 1:1 message between others
	u.pushed(c, 2, body(201, 1, 0, 10), now) // a group it is not in
	u.pushed(c, 3, body(202, 1, 3, 0), now)
	u.synced(3, body(203, 1, 3, 0), now)    // version 3 again, another message
	u.pushed(c, 4, body(202, 1, 3, 0), now) // message 202 again, another version
	got := map[string]int{}
	for _, v := range u.bad {
		got[v.kind]++
	}
	if got["cross_user"] != 2 || got["conflict"] != 1 || got["duplicate"] != 1 {
		t.Fatalf("violations %v: %+v", got, u.bad)
	}
	if u.watermark() != 4 {
		t.Fatalf("watermark %d, want 4", u.watermark())
	}
}

func TestSelectFaults_TargetRunsOnlyClientSideFaults(t *testing.T) {
	fs, err := selectFaults(nil, false, true)
	if err != nil || len(fs) == 0 {
		t.Fatal(fs, err)
	}
	for _, f := range fs {
		if !f.client {
			t.Errorf("%s would run against a target", f.name)
		}
	}
	if _, err := selectFaults([]string{"push-kill"}, false, true); err == nil {
		t.Error("push-kill accepted against a target")
	}
	if _, err := selectFaults([]string{"no-such"}, false, false); err == nil {
		t.Error("unknown fault accepted")
	}
}
