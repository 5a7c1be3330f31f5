package handoff

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Message kinds, the first byte of every header.
const (
	msgHello byte = iota + 1
	msgRefuse
	msgListeners
	msgConns
	msgEnd
	msgDone
)

const headerSize = 9

// maxPayload bounds one message: a batch of connections with their queued
// output (each at most the node's MaxQueued) fits comfortably.
const maxPayload = 1 << 30

type refusal struct{ Reason string }

// Conn is one side of a handoff after the hellos (Accept, Dial). Its
// methods follow the conversation in the package comment; descriptors
// received belong to the caller.
type Conn struct {
	uc *net.UnixConn
}

// Close hangs up.
func (c *Conn) Close() error { return c.uc.Close() }

// send writes one message; fds travel with its header.
func (c *Conn) send(kind byte, v any, fds []int) error {
	var payload bytes.Buffer
	if v != nil {
		if err := gob.NewEncoder(&payload).Encode(v); err != nil {
			return fmt.Errorf("handoff: encode: %w", err)
		}
	}
	var hdr [headerSize]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:5], uint32(len(fds)))
	binary.BigEndian.PutUint32(hdr[5:9], uint32(payload.Len()))
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, oobn, err := c.uc.WriteMsgUnix(hdr[:], oob, nil)
	if err != nil {
		return fmt.Errorf("handoff: send: %w", err)
	}
	if n != len(hdr) || oobn != len(oob) {
		return errors.New("handoff: send: short write")
	}
	if payload.Len() == 0 {
		// No empty write: the peer may have read the header, acted on it
		// (done: the old process closes at once) and hung up, and a write
		// to a closed socket fails even with nothing to write.
		return nil
	}
	if _, err := c.uc.Write(payload.Bytes()); err != nil {
		return fmt.Errorf("handoff: send: %w", err)
	}
	return nil
}

// recv reads one message, decoding its payload into what into returns for
// its kind (nil discards the payload), and returns its kind and
// descriptors. io.EOF means the peer hung up between messages.
func (c *Conn) recv(into func(kind byte) any) (byte, []int, error) {
	var hdr [headerSize]byte
	oob := make([]byte, syscall.CmsgSpace(4*Batch))
	var fds []int
	got := 0
	for got < len(hdr) {
		n, oobn, _, _, err := c.uc.ReadMsgUnix(hdr[got:], oob)
		if oobn > 0 {
			more, perr := parseRights(oob[:oobn])
			fds = append(fds, more...)
			if perr != nil {
				CloseFDs(fds)
				return 0, nil, perr
			}
		}
		if err != nil {
			CloseFDs(fds)
			if errors.Is(err, io.EOF) && got == 0 && n == 0 {
				return 0, nil, io.EOF
			}
			return 0, nil, fmt.Errorf("handoff: receive: %w", err)
		}
		if n == 0 {
			CloseFDs(fds)
			return 0, nil, io.ErrUnexpectedEOF
		}
		got += n
	}
	kind := hdr[0]
	want := int(binary.BigEndian.Uint32(hdr[1:5]))
	size := binary.BigEndian.Uint32(hdr[5:9])
	if want != len(fds) || size > maxPayload {
		CloseFDs(fds)
		return 0, nil, fmt.Errorf("handoff: message %d announced %d descriptors and %d bytes, got %d descriptors", kind, want, size, len(fds))
	}
	// The buffer grows with the bytes that arrive, not with what the
	// header announced.
	var payload bytes.Buffer
	payload.Grow(int(min(size, 1<<20)))
	if _, err := io.CopyN(&payload, c.uc, int64(size)); err != nil {
		CloseFDs(fds)
		return 0, nil, fmt.Errorf("handoff: receive: %w", err)
	}
	if dst := into(kind); dst != nil && size > 0 {
		if err := gob.NewDecoder(&payload).Decode(dst); err != nil {
			CloseFDs(fds)
			return 0, nil, fmt.Errorf("handoff: decode of message %d: %w", kind, err)
		}
	}
	return kind, fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("handoff: control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("handoff: rights: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// CloseFDs closes descriptors received and not kept.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}
