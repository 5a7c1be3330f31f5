package push

import (
	"sync"
	"sync/atomic"
)

const hubShards = 64

// hub is the table of live sessions on this node: user id -> one conn per
// device. It is sharded by user id so the consumer and handshakes of
// different users rarely contend.
type hub struct {
	shards [hubShards]hubShard
	n      atomic.Int64
	plat   platformCounts // live sessions by platform; see platforms.go
	hs     handshakes     // batched Redis work of the handshakes on their way in; see handshakes.go
}

type hubShard struct {
	mu    sync.RWMutex
	users map[int64][]*conn
}

func newHub() *hub {
	h := &hub{}
	h.hs.init()
	for i := range h.shards {
		h.shards[i].users = map[int64][]*conn{}
	}
	return h
}

func (h *hub) shard(uid int64) *hubShard { return &h.shards[uint64(uid)%hubShards] }

// add inserts c and returns the session of the same device it replaces, if any.
func (h *hub) add(c *conn) (old *conn) {
	s := h.shard(c.uid)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.users[c.uid]
	for i, o := range list {
		if o.sess.DeviceID == c.sess.DeviceID {
			list[i] = c
			h.plat.add(o.sess.Platform, -1)
			h.plat.add(c.sess.Platform, 1)
			return o
		}
	}
	s.users[c.uid] = append(list, c)
	h.n.Add(1)
	h.plat.add(c.sess.Platform, 1)
	return nil
}

// remove deletes c if it is still its device's session.
func (h *hub) remove(c *conn) bool {
	s := h.shard(c.uid)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.users[c.uid]
	for i, o := range list {
		if o != c {
			continue
		}
		list[i] = list[len(list)-1]
		list[len(list)-1] = nil
		if list = list[:len(list)-1]; len(list) == 0 {
			delete(s.users, c.uid)
		} else {
			s.users[c.uid] = list
		}
		h.n.Add(-1)
		h.plat.add(c.sess.Platform, -1)
		return true
	}
	return false
}

// appendSessions appends uid's sessions (only device's, unless device is
// empty) to dst.
func (h *hub) appendSessions(dst []*conn, uid int64, device string) []*conn {
	s := h.shard(uid)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.users[uid] {
		if device == "" || c.sess.DeviceID == device {
			dst = append(dst, c)
		}
	}
	return dst
}

// count is the number of live sessions.
func (h *hub) count() int { return int(h.n.Load()) }
