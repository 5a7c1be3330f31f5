package push

import (
	"errors"

	"github.com/cloudwego/netpoll"
)

// errNeedMore ends a non-blocking pass over carried-over input at a frame
// that is not complete yet; the connection waits for more bytes.
var errNeedMore = errors.New("push: frame incomplete; waiting for more input")

// carryReader serves the bytes a hot restart carried over from the old
// process (read from the socket there but not yet processed, e.g. half a
// frame) in front of what this process reads from the same socket. Only the
// connection's onRequest goroutine uses it; once the carried bytes are gone
// the connection reads netpoll's Reader directly again (conn.reader).
type carryReader struct {
	pre    []byte
	r      netpoll.Reader
	nowait bool // the adoption pass: never block for input that is not there
}

// reader returns the connection's input: carried-over bytes first, if any.
func (c *conn) reader() netpoll.Reader {
	if c.in == nil {
		return c.nc.Reader()
	}
	if len(c.in.pre) == 0 && !c.in.nowait {
		c.in = nil
		return c.nc.Reader()
	}
	return c.in
}

// need makes sure n bytes can be read without blocking in the nowait pass.
func (p *carryReader) need(n int) error {
	if p.nowait && len(p.pre)+p.r.Len() < n {
		return errNeedMore
	}
	return nil
}

// Len is the number of bytes readable now.
func (p *carryReader) Len() int { return len(p.pre) + p.r.Len() }

// Peek returns the next n bytes without consuming them.
func (p *carryReader) Peek(n int) ([]byte, error) {
	if n <= len(p.pre) {
		return p.pre[:n], nil
	}
	if err := p.need(n); err != nil {
		return nil, err
	}
	rest, err := p.r.Peek(n - len(p.pre))
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, n), p.pre...), rest...), nil
}

// Next consumes and returns the next n bytes.
func (p *carryReader) Next(n int) ([]byte, error) {
	if n <= len(p.pre) {
		b := p.pre[:n:n]
		p.pre = p.pre[n:]
		return b, nil
	}
	if err := p.need(n); err != nil {
		return nil, err
	}
	rest, err := p.r.Next(n - len(p.pre))
	if err != nil {
		return nil, err
	}
	b := append(append(make([]byte, 0, n), p.pre...), rest...)
	p.pre = nil
	return b, nil
}

// Skip discards the next n bytes.
func (p *carryReader) Skip(n int) error {
	_, err := p.Next(n)
	return err
}

// Until reads up to and including delim.
func (p *carryReader) Until(delim byte) ([]byte, error) {
	for i, b := range p.pre {
		if b == delim {
			return p.Next(i + 1)
		}
	}
	if p.nowait {
		return nil, errNeedMore
	}
	rest, err := p.r.Until(delim)
	b := append(append(make([]byte, 0, len(p.pre)+len(rest)), p.pre...), rest...)
	p.pre = nil
	return b, err
}

// ReadString reads n bytes as a string.
func (p *carryReader) ReadString(n int) (string, error) {
	b, err := p.Next(n)
	return string(b), err
}

// ReadBinary reads n bytes into a new slice.
func (p *carryReader) ReadBinary(n int) ([]byte, error) {
	b, err := p.Next(n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// ReadByte reads one byte.
func (p *carryReader) ReadByte() (byte, error) {
	b, err := p.Next(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// Slice returns a Reader over the next n bytes.
func (p *carryReader) Slice(n int) (netpoll.Reader, error) {
	b, err := p.ReadBinary(n)
	if err != nil {
		return nil, err
	}
	lb := netpoll.NewLinkBuffer(n)
	if _, err := lb.WriteBinary(b); err != nil {
		return nil, err
	}
	if err := lb.Flush(); err != nil {
		return nil, err
	}
	return lb, nil
}

// Release releases what was read from the underlying Reader.
func (p *carryReader) Release() error { return p.r.Release() }
