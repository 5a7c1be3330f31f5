package handoff

import (
	"errors"
	"fmt"
)

// The hellos check the peer's protocol version and node id before anything
// changes hands. Either side may refuse; the peer learns why before the
// socket closes.

// offerHello is the new side: it speaks first, then confirms that it
// accepts the old process too.
func (c *Conn) offerHello(me Hello) (Hello, error) {
	if err := c.send(msgHello, me, nil); err != nil {
		return Hello{}, err
	}
	peer, err := c.recvHello(me)
	if err != nil {
		return peer, err
	}
	return peer, c.send(msgHello, me, nil)
}

// answerHello is the old side: it answers the new process's hello and
// waits for its confirmation.
func (c *Conn) answerHello(me Hello) (Hello, error) {
	peer, err := c.recvHello(me)
	if err != nil {
		return peer, err
	}
	if err := c.send(msgHello, me, nil); err != nil {
		return peer, err
	}
	var refused refusal
	kind, fds, err := c.recv(func(k byte) any {
		if k == msgRefuse {
			return &refused
		}
		return nil
	})
	CloseFDs(fds)
	switch {
	case err != nil:
		return peer, err
	case kind == msgRefuse:
		return peer, fmt.Errorf("%w: %s", ErrRefused, refused.Reason)
	case kind != msgHello:
		return peer, fmt.Errorf("handoff: expected the peer's confirmation, got message %d", kind)
	}
	return peer, nil
}

// recvHello reads the peer's hello and refuses a peer of another protocol
// version or node.
func (c *Conn) recvHello(me Hello) (Hello, error) {
	var peer Hello
	var refused refusal
	kind, fds, err := c.recv(func(k byte) any {
		switch k {
		case msgHello:
			return &peer
		case msgRefuse:
			return &refused
		}
		return nil
	})
	CloseFDs(fds)
	switch {
	case err != nil:
		return peer, err
	case kind == msgRefuse:
		return peer, fmt.Errorf("%w: %s", ErrRefused, refused.Reason)
	case kind != msgHello:
		return peer, fmt.Errorf("handoff: expected hello, got message %d", kind)
	case peer.Version != me.Version:
		reason := fmt.Sprintf("handoff protocol version %d, this binary speaks %d", peer.Version, me.Version)
		_ = c.send(msgRefuse, refusal{Reason: reason}, nil)
		return peer, errors.New("handoff: incompatible peer: " + reason)
	case peer.NodeID != me.NodeID:
		reason := fmt.Sprintf("node id %q, this node is %q", peer.NodeID, me.NodeID)
		_ = c.send(msgRefuse, refusal{Reason: reason}, nil)
		return peer, errors.New("handoff: wrong peer: " + reason)
	}
	return peer, nil
}
