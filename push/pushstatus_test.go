package push

import (
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/pushstatus"
)

// A broadcast's delivered count is the node's live sessions on its
// platforms (all of them without a filter), each platform counted once.
func TestCountBroadcasts_CountsLiveSessionsByPlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.start()
	e.connectOn(31, "a", "ios")
	e.connectOn(32, "b", "ios")
	e.connectOn(33, "c", "web")
	testenv.Eventually(t, 5*time.Second, func() bool { return e.node.Sessions() == 3 }, "three sessions")
	e.node.transient.counts.take() // whatever the handshakes counted
	e.node.countBroadcasts([]encodedPush{
		{pushID: "all"},
		{pushID: "ios", platforms: []string{"ios"}},
		{pushID: "web-twice", platforms: []string{"web", "web"}},
		{pushID: "none", platforms: []string{"android"}},
	})
	got := e.node.transient.counts.take()
	want := map[string]int64{"all": 3, "ios": 2, "web-twice": 1}
	for id, n := range want {
		if c := got[pushCountKey{id, pushstatus.Delivered}]; c != n {
			t.Errorf("push %s: delivered %d, want %d (all counts: %v)", id, c, n, got)
		}
	}
	if c, ok := got[pushCountKey{"none", pushstatus.Delivered}]; ok {
		t.Errorf("a broadcast to a platform with no session counted %d", c)
	}
}
