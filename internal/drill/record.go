package drill

// What each user's checking client received, recorded as it arrives and
// checked on the spot: every entry must belong to the user, a version must
// always carry the same entry, and a message must never take two
// versions. The end-of-run checks (checker.go) compare the records with
// the database.

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// user is a drill user: its credentials, its groups and what its client
// received.
type user struct {
	id     int64
	name   string
	token  string
	device string
	groups map[int64]bool // the groups the user is in (membership never changes)

	syncPages atomic.Int64

	mu          sync.Mutex
	got         map[uint64]entry // version -> what arrived first
	msgVersion  map[int64]uint64 // message id -> version
	last        uint64           // every version up to this arrived
	connects    int
	disconnects []time.Time
	lastErr     string
	kicks       []time.Time
	frames      int // Message frames
	redelivered int // Message frames of a version this connection already had
	backwards   int // Message frames of a new version below one this connection had
	bad         []violation
}

// entry is one timeline entry as received.
type entry struct {
	version uint64
	kind    string
	msgID   int64 // kind message
	at      time.Time
	viaPush bool
}

// violation is something the drill must never see.
type violation struct {
	at   time.Time
	kind string // cross_user, conflict, duplicate, malformed
	what string
}

// connLog is what one connection delivered.
type connLog struct {
	max  uint64
	seen map[uint64]bool
}

func newUser(id int64, name, token string) *user {
	return &user{
		id: id, name: name, token: token, device: "drill-" + name,
		groups: map[int64]bool{}, got: map[uint64]entry{}, msgVersion: map[int64]uint64{},
	}
}

func (u *user) watermark() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func (u *user) connected(time.Time) {
	u.mu.Lock()
	u.connects++
	u.mu.Unlock()
}

func (u *user) disconnected(at time.Time, addr string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.disconnects = append(u.disconnects, at)
	if err != nil {
		u.lastErr = addr + ": " + err.Error()
	}
}

// kicked records a Kick frame: the client still reconnects (the drill
// wants its user online), but a kick of the drill's only session of a
// user means a stale session replaced a newer one.
func (u *user) kicked(at time.Time, r wire.Reason) {
	u.mu.Lock()
	u.kicks = append(u.kicks, at)
	u.lastErr = "kick " + r.Code.String() + ": " + r.Text
	u.mu.Unlock()
}

// pushed records a Message frame and reports whether it shows a gap.
func (u *user) pushed(c *connLog, v uint64, body []byte, at time.Time) (gap bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.frames++
	switch {
	case c.seen[v]:
		u.redelivered++
	case v < c.max:
		u.backwards++
	}
	c.seen[v] = true
	c.max = max(c.max, v)
	u.recordLocked(v, body, at, true)
	return v > u.last+1
}

// synced records an entry of a sync page.
func (u *user) synced(v uint64, raw []byte, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.recordLocked(v, raw, at, false)
}

// wireEntry is the part of an entry (a Message body or a sync entry) the
// checks need.
type wireEntry struct {
	Kind    string `json:"kind"`
	Message *struct {
		ID          int64  `json:"id"`
		SenderID    int64  `json:"sender_id"`
		RecipientID int64  `json:"recipient_id"`
		GroupID     int64  `json:"group_id"`
		ClientMsgID string `json:"client_msg_id"`
	} `json:"message"`
	Event *struct {
		GroupID int64 `json:"group_id"`
	} `json:"event"`
}

func (u *user) recordLocked(v uint64, raw []byte, at time.Time, viaPush bool) {
	var w wireEntry
	if err := json.Unmarshal(raw, &w); err != nil || v == 0 {
		u.violate(at, "malformed", fmt.Sprintf("user %d version %d: %v", u.id, v, err))
		return
	}
	e := entry{version: v, kind: w.Kind, at: at, viaPush: viaPush}
	switch w.Kind {
	case "message":
		m := w.Message
		if m == nil || m.ID == 0 {
			u.violate(at, "malformed", fmt.Sprintf("user %d version %d: message entry without a message", u.id, v))
			return
		}
		e.msgID = m.ID
		if m.SenderID != u.id && m.RecipientID != u.id && !(m.GroupID != 0 && u.groups[m.GroupID]) {
			u.violate(at, "cross_user", fmt.Sprintf("user %d got message %d (sender %d, recipient %d, group %d) at version %d",
				u.id, m.ID, m.SenderID, m.RecipientID, m.GroupID, v))
		}
	case "group":
		if w.Event == nil || !u.groups[w.Event.GroupID] {
			u.violate(at, "cross_user", fmt.Sprintf("user %d got a group event of another group at version %d: %s", u.id, v, raw))
		}
	}
	if old, ok := u.got[v]; ok {
		if old.kind != e.kind || old.msgID != e.msgID {
			u.violate(at, "conflict", fmt.Sprintf("user %d version %d carried %s %d, then %s %d", u.id, v, old.kind, old.msgID, e.kind, e.msgID))
		}
		return
	}
	if e.msgID != 0 {
		if ov, ok := u.msgVersion[e.msgID]; ok && ov != v {
			u.violate(at, "duplicate", fmt.Sprintf("user %d got message %d at versions %d and %d", u.id, e.msgID, ov, v))
		}
		u.msgVersion[e.msgID] = v
	}
	u.got[v] = e
	for {
		if _, ok := u.got[u.last+1]; !ok {
			break
		}
		u.last++
	}
}

func (u *user) violate(at time.Time, kind, what string) {
	u.bad = append(u.bad, violation{at: at, kind: kind, what: what})
}

// received returns when the user first had message id, if it did.
func (u *user) received(id int64) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.msgVersion[id]
	if !ok {
		return time.Time{}, false
	}
	return u.got[v].at, true
}
