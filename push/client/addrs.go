package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// addrList is the set of push node addresses a Client rotates through. It
// starts at a random one, so that a fleet of clients with the same list
// spreads over the nodes, and moves to the next after every connection that
// ends, so that a client whose node drains, dies or refuses it tries another
// node next. Only Run's goroutine uses it.
type addrList struct {
	addrs  []string
	i      int
	static []string // Config.PushAddr and PushAddrs
}

// newAddrList merges Config.PushAddr and Config.PushAddrs, without duplicates.
func newAddrList(cfg Config) *addrList {
	a := &addrList{}
	seen := map[string]bool{}
	for _, s := range append([]string{cfg.PushAddr}, cfg.PushAddrs...) {
		if s != "" && !seen[s] {
			seen[s] = true
			a.addrs = append(a.addrs, s)
		}
	}
	if len(a.addrs) > 1 {
		a.i = rand.IntN(len(a.addrs))
	}
	a.static = a.addrs
	return a
}

// discovered makes found (least loaded first, from the API) the list, with
// the configured addresses after them, and starts at its head; avoid, if
// listed, goes to the end. An empty found leaves the list unchanged.
func (a *addrList) discovered(found []string, avoid string) {
	if len(found) == 0 {
		return
	}
	seen := map[string]bool{}
	var head, tail []string
	for _, s := range append(slices.Clone(found), a.static...) {
		switch {
		case s == "" || seen[s]:
		case s == avoid:
			tail = append(tail, s)
		default:
			head = append(head, s)
		}
		seen[s] = true
	}
	a.addrs, a.i = append(head, tail...), 0
}

// current is the address of the next connection attempt.
func (a *addrList) current() string {
	if len(a.addrs) == 0 {
		return ""
	}
	return a.addrs[a.i]
}

// advance moves to the next address.
func (a *addrList) advance() {
	if len(a.addrs) > 0 {
		a.i = (a.i + 1) % len(a.addrs)
	}
}

// reconnectError ends a connection whose node asked the client to move: it
// is draining (a Reconnect frame) or stopping (Close(shutting_down)).
type reconnectError struct {
	window time.Duration // reconnect after a random delay up to this
	code   wire.Code     // CodeShuttingDown for a Close; CodeNormal for Reconnect
}

func (e *reconnectError) Error() string {
	if e.code == wire.CodeShuttingDown {
		return "tether client: push node shutting down"
	}
	return fmt.Sprintf("tether client: push node draining; reconnect within %s", e.window)
}

// moveDelay is how long to wait before reconnecting after err, and whether
// err is a request to move at all. The delay is random so that the clients
// of one node do not arrive at the next one in lockstep.
func moveDelay(err error) (time.Duration, bool) {
	var re *reconnectError
	if !errors.As(err, &re) {
		return 0, false
	}
	if re.window <= 0 {
		return 0, true
	}
	return time.Duration(rand.Int64N(int64(re.window) + 1)), true
}

// shutdownJitter bounds the delay before reconnecting after Close(shutting_down).
const shutdownJitter = time.Second
