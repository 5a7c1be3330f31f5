package drill

// The database is the truth. At the end of the drill every client has
// synced to its head, and the checker reads every message and timeline row
// from the drill's own MariaDB: each accepted message must be stored
// exactly once under the id the API answered, each timeline must be
// gap-free, each message must be in exactly the timelines of its sender
// and recipients, in the order its sender's messages were accepted, and
// what each client received must be exactly its timeline.

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// truth is what the database holds.
type truth struct {
	messages  map[int64]dbMessage        // by id
	byClient  map[[2]any][]int64         // (sender id, client msg id) -> message ids
	timelines map[int64][]dbEntry        // user -> entries by version
	heads     map[int64]uint64           // user -> head version
	where     map[int64]map[int64]uint64 // message -> user -> version
}

type dbMessage struct {
	id, sender, recipient, group int64
	cmid                         string
}

type dbEntry struct {
	version uint64
	kind    string
	msgID   int64
}

// readTruth reads the messages, timelines and heads of users.
func readTruth(ctx context.Context, dsn string, users []*user) (*truth, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	t := &truth{
		messages: map[int64]dbMessage{}, byClient: map[[2]any][]int64{},
		timelines: map[int64][]dbEntry{}, heads: map[int64]uint64{}, where: map[int64]map[int64]uint64{},
	}
	ours := map[int64]bool{}
	for _, u := range users {
		ours[u.id] = true
	}
	// The drill's users send every message the checks look at; a target's
	// database holds others too.
	ids := make([]string, 0, len(users))
	for _, u := range users {
		ids = append(ids, strconv.FormatInt(u.id, 10))
	}
	rows, err := db.QueryContext(ctx, "SELECT id, sender_id, COALESCE(recipient_id, 0), COALESCE(group_id, 0), client_msg_id FROM messages WHERE sender_id IN ("+strings.Join(ids, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("drill: read messages: %w", err)
	}
	for rows.Next() {
		var m dbMessage
		if err := rows.Scan(&m.id, &m.sender, &m.recipient, &m.group, &m.cmid); err != nil {
			rows.Close()
			return nil, err
		}
		t.messages[m.id] = m
		k := [2]any{m.sender, m.cmid}
		t.byClient[k] = append(t.byClient[k], m.id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.QueryContext(ctx, "SELECT user_id, version, kind, COALESCE(message_id, 0) FROM timeline WHERE user_id IN ("+strings.Join(ids, ",")+") ORDER BY user_id, version")
	if err != nil {
		return nil, fmt.Errorf("drill: read timelines: %w", err)
	}
	for rows.Next() {
		var uid int64
		var e dbEntry
		if err := rows.Scan(&uid, &e.version, &e.kind, &e.msgID); err != nil {
			rows.Close()
			return nil, err
		}
		if !ours[uid] {
			continue
		}
		t.timelines[uid] = append(t.timelines[uid], e)
		if e.msgID != 0 {
			if t.where[e.msgID] == nil {
				t.where[e.msgID] = map[int64]uint64{}
			}
			t.where[e.msgID][uid] = e.version // a second one is caught as a duplicate below
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.QueryContext(ctx, "SELECT user_id, version FROM timeline_heads WHERE user_id IN ("+strings.Join(ids, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("drill: read heads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var v uint64
		if err := rows.Scan(&uid, &v); err != nil {
			return nil, err
		}
		t.heads[uid] = v
	}
	return t, rows.Err()
}

// finding is one problem the checker found, attributed to a send (and so
// to a phase) where it can be.
type finding struct {
	kind string // lost, duplicate, reordered, cross_user, gap
	send *sendRec
	what string
}

// check compares the sends and what every client received with t.
func check(t *truth, l *load) []finding {
	var out []finding
	add := func(kind string, s *sendRec, format string, args ...any) {
		out = append(out, finding{kind: kind, send: s, what: fmt.Sprintf(format, args...)})
	}
	// Timelines: gap-free from 1 to the head, no message twice.
	for _, u := range l.users {
		tl := t.timelines[u.id]
		seen := map[int64]uint64{}
		for i, e := range tl {
			if e.version != uint64(i+1) {
				add("gap", nil, "user %d: timeline version %d at position %d", u.id, e.version, i+1)
				break
			}
			if e.msgID != 0 {
				if v, ok := seen[e.msgID]; ok {
					add("duplicate", nil, "user %d: message %d at versions %d and %d", u.id, e.msgID, v, e.version)
				}
				seen[e.msgID] = e.version
			}
		}
		if h := t.heads[u.id]; h != uint64(len(tl)) {
			add("gap", nil, "user %d: head %d but %d timeline entries", u.id, h, len(tl))
		}
	}
	// Every accepted send stored once, under the answered id, in exactly
	// its recipients' timelines.
	bySend := map[int64]*sendRec{}
	for _, s := range l.records() {
		if s.accepted.IsZero() {
			continue
		}
		bySend[s.msgID] = s
		ids := t.byClient[[2]any{s.sender.id, s.cmid}]
		switch {
		case len(ids) == 0:
			add("lost", s, "message %q of user %d (answered id %d) is not stored", s.cmid, s.sender.id, s.msgID)
			continue
		case len(ids) > 1:
			add("duplicate", s, "message %q of user %d stored %d times: %v", s.cmid, s.sender.id, len(ids), ids)
		case ids[0] != s.msgID:
			add("duplicate", s, "message %q of user %d answered as %d, stored as %d", s.cmid, s.sender.id, s.msgID, ids[0])
		}
		want := map[int64]bool{}
		for _, r := range l.recipients(s) {
			want[r] = true
			if _, ok := t.where[s.msgID][r]; !ok {
				add("lost", s, "message %d (%q) missing from user %d's timeline", s.msgID, s.cmid, r)
			}
		}
		for r := range t.where[s.msgID] {
			if !want[r] {
				add("cross_user", s, "message %d (%q) is in the timeline of user %d, not a recipient", s.msgID, s.cmid, r)
			}
		}
	}
	// Each sender's messages in every timeline in the order they were
	// accepted (one conversation at a time).
	type convKey struct {
		sender   int64
		to, grp  int64
		receiver int64
	}
	lastV := map[convKey]uint64{}
	sends := l.records()
	sort.SliceStable(sends, func(i, j int) bool { return sends[i].accepted.Before(sends[j].accepted) })
	for _, s := range sends {
		if s.accepted.IsZero() {
			continue
		}
		for _, r := range l.recipients(s) {
			v, ok := t.where[s.msgID][r]
			if !ok {
				continue
			}
			k := convKey{s.sender.id, s.to, s.group, r}
			if prev := lastV[k]; v < prev {
				add("reordered", s, "user %d: message %d (%q) at version %d, after a later-accepted one of the same sender at %d", r, s.msgID, s.cmid, v, prev)
			}
			lastV[k] = max(lastV[k], v)
		}
	}
	// What each client received is exactly its timeline.
	for _, u := range l.users {
		u.mu.Lock()
		for _, e := range t.timelines[u.id] {
			g, ok := u.got[e.version]
			switch {
			case !ok:
				add("lost", bySend[e.msgID], "user %d never received version %d (%s %d)", u.id, e.version, e.kind, e.msgID)
			case g.kind != e.kind || g.msgID != e.msgID:
				add("cross_user", bySend[e.msgID], "user %d received %s %d as version %d, which holds %s %d", u.id, g.kind, g.msgID, e.version, e.kind, e.msgID)
			}
		}
		for v := range u.got {
			if v > uint64(len(t.timelines[u.id])) {
				add("cross_user", nil, "user %d received version %d beyond its head %d", u.id, v, len(t.timelines[u.id]))
			}
		}
		u.mu.Unlock()
	}
	return out
}
