package handoff

import (
	"errors"
	"fmt"
)

// The old side sends, in this order: SendListeners, SendConns (repeated),
// SendEnd, then WaitDone. The new side mirrors it: RecvListeners,
// RecvConns until it returns the End, then SendDone.

// SendListeners sends the listeners, fds[i] being ls[i]'s descriptor.
func (c *Conn) SendListeners(ls []ListenerState, fds []int) error {
	if len(ls) != len(fds) {
		return errors.New("handoff: each listener needs its descriptor")
	}
	return c.send(msgListeners, ls, fds)
}

// RecvListeners receives the listeners and their descriptors.
func (c *Conn) RecvListeners() ([]ListenerState, []int, error) {
	var ls []ListenerState
	kind, fds, err := c.recv(func(k byte) any {
		if k == msgListeners {
			return &ls
		}
		return nil
	})
	if err == nil && (kind != msgListeners || len(fds) != len(ls)) {
		CloseFDs(fds)
		err = fmt.Errorf("handoff: expected listeners, got message %d", kind)
	}
	if err != nil {
		return nil, nil, err
	}
	return ls, fds, nil
}

// SendConns sends one batch of at most Batch connections, fds[i] being
// cs[i]'s socket.
func (c *Conn) SendConns(cs []ConnState, fds []int) error {
	if len(cs) != len(fds) || len(fds) > Batch {
		return fmt.Errorf("handoff: a batch is at most %d connections, each with its descriptor", Batch)
	}
	return c.send(msgConns, cs, fds)
}

// SendEnd ends the connections.
func (c *Conn) SendEnd(e End) error { return c.send(msgEnd, e, nil) }

// RecvConns receives the next batch of connections with their sockets, or,
// once the old side has sent them all, its End (then cs and fds are nil).
func (c *Conn) RecvConns() (cs []ConnState, fds []int, end *End, err error) {
	var e End
	kind, fds, err := c.recv(func(k byte) any {
		switch k {
		case msgConns:
			return &cs
		case msgEnd:
			return &e
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	switch kind {
	case msgConns:
		if len(fds) != len(cs) {
			CloseFDs(fds)
			return nil, nil, nil, errors.New("handoff: connection batch without its descriptors")
		}
		return cs, fds, nil, nil
	case msgEnd:
		CloseFDs(fds)
		return nil, nil, &e, nil
	}
	CloseFDs(fds)
	return nil, nil, nil, fmt.Errorf("handoff: unexpected message %d", kind)
}

// SendDone tells the old side that this one owns everything now.
func (c *Conn) SendDone() error { return c.send(msgDone, nil, nil) }

// WaitDone waits for the new side's SendDone. Any error means it failed:
// the connections sent are the old side's again.
func (c *Conn) WaitDone() error {
	kind, fds, err := c.recv(func(byte) any { return nil })
	CloseFDs(fds)
	if err == nil && kind != msgDone {
		err = fmt.Errorf("handoff: expected done, got message %d", kind)
	}
	return err
}
