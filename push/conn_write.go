package push

import (
	"errors"
	"syscall"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/push/wire"
)

// A connection's output goes through its own queue (buf) and at most one
// writer at a time (flushing): the consumer and the connection's handler
// never write concurrently, and a client that stops reading blocks only its
// own flushLoop, never the consumer.
//
// The writer is usually the goroutine that queued the output: flushNow and
// send write to the socket without blocking, and only what the socket does
// not take at once goes to a flushLoop goroutine, which waits for it. A
// broadcast to 15,000 idle sessions is then 15,000 writes from the fan-out,
// not 15,000 goroutines each making one write (docs/benchmarks-push.md).

// enqueue queues frame for the next flush. It reports false if the
// connection is closing or the queue would exceed MaxQueued, in which case
// the connection is closed with CodeSlowConsumer: it syncs on reconnect.
func (c *conn) enqueue(frame []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.buf)+len(frame) > c.n.cfg.MaxQueued {
		queued := len(c.buf)
		c.mu.Unlock()
		c.fail(wire.CodeSlowConsumer, "outbound queue overflowed; reconnect and sync")
		c.n.log.Debug("push: queue overflow", "conn", c.id, "queued", queued)
		return false
	}
	if c.buf == nil {
		c.buf = getWriteBuf() // an idle connection holds no buffer; see memory.go
	}
	c.buf = append(c.buf, frame...)
	early := len(c.buf) >= c.n.cfg.MaxQueued/2
	c.mu.Unlock()
	if early {
		// A big batch for one session starts writing before the batch
		// ends, so that only a client that really lags hits MaxQueued.
		c.kick()
	}
	return true
}

// kick starts a flushLoop if output is waiting and none is running, and
// netpoll has registered the connection (onConnect kicks it then).
func (c *conn) kick() {
	c.mu.Lock()
	if c.flushing || c.hold || len(c.buf) == 0 || !c.polled {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	c.mu.Unlock()
	c.n.spawn(c.flushLoop)
}

// flushNow writes the queued output now, on the caller's goroutine, without
// blocking: if a writer is already running, or the conn is closing, held or
// a WebSocket, it does what kick does; whatever the socket does not take at
// once is left to a flushLoop.
func (c *conn) flushNow() {
	c.mu.Lock()
	if c.flushing || c.hold || len(c.buf) == 0 || !c.polled {
		c.mu.Unlock()
		return
	}
	if c.closing || c.ws != nil {
		c.mu.Unlock()
		c.kick()
		return
	}
	c.flushing = true
	b := c.buf
	c.buf, c.keep = nil, 0
	c.mu.Unlock()
	c.writeOwned(b, true)
}

// send queues frames, bytes the caller keeps, and writes them at once like
// flushNow. If nothing is queued and no writer runs, frames go to the socket
// straight from the caller's bytes, with no copy into a queue. It reports
// false if the connection is closing or overflowed, like enqueue.
func (c *conn) send(frames []byte) bool {
	c.mu.Lock()
	direct := c.polled && !c.flushing && !c.hold && !c.closing && c.ws == nil && len(c.buf) == 0 &&
		len(frames) <= c.n.cfg.MaxQueued
	if !direct {
		c.mu.Unlock()
		if !c.enqueue(frames) {
			return false
		}
		c.flushNow()
		return true
	}
	c.flushing = true
	c.mu.Unlock()
	c.writeOwned(frames, false)
	return true
}

// writeOwned writes b while this goroutine owns the writer (flushing),
// without waiting for the socket, and then either gives the writer up or
// hands it, with whatever is left to write, to a flushLoop. pooled says b
// came from the conn's queue and returns to the pool once written.
func (c *conn) writeOwned(b []byte, pooled bool) {
	k, err := c.tryWrite(b)
	if err != nil {
		if pooled {
			putWriteBuf(b)
		}
		c.writeFailed(err)
		return
	}
	c.mu.Lock()
	if k < len(b) {
		// The socket is full: the rest of b goes first, and is never dropped
		// (keep), since part of its first frame is on the wire already.
		rest := append(getWriteBuf(), b[k:]...)
		c.keep = len(rest)
		queued := c.buf
		c.buf = append(rest, queued...)
		if queued != nil {
			putWriteBuf(queued)
		}
	}
	if pooled {
		putWriteBuf(b)
	}
	if len(c.buf) == 0 && !c.closing && !c.hold {
		c.flushing = false
		c.releaseWriteBufs()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// Output queued meanwhile, a partial write, or a close to finish.
	c.n.spawn(c.flushLoop)
}

// tryWrite writes as much of b to the socket as it takes without blocking
// and returns how much that was. It writes to the socket directly, not
// through netpoll's output buffer, which is empty: every netpoll Flush of
// this conn returned only once its buffer was written. Like write, it runs
// under wmu, so the descriptor is still this connection's (netpoll closes
// it after onClosed, which sets wclosed).
func (c *conn) tryWrite(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return 0, netpoll.ErrConnClosed
	}
	fd, ok := c.nc.(interface{ Fd() int })
	if !ok {
		return 0, nil // not a socket of ours: a flushLoop writes it through netpoll
	}
	if !c.auditCheck("write") { // tests: see fdaudit.go
		return 0, errStaleFD
	}
	for {
		k, err := syscall.Write(fd.Fd(), b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, nil
		case err != nil:
			return 0, err
		}
		return k, nil
	}
}

// closeNow closes the connection without writing what is queued. One that
// netpoll has not registered yet is left to finish the close closeWith
// began once it is (onConnect): closing it now would race the registration.
func (c *conn) closeNow() {
	c.mu.Lock()
	polled := c.polled
	c.mu.Unlock()
	if polled {
		_ = c.nc.Close()
	}
}

// writeFailed ends a conn whose write failed; the caller owns the writer.
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	// Still flushing: nobody else may start a writer on a dead conn.
	c.closing = true
	c.buf, c.keep = nil, 0
	c.mu.Unlock()
	c.n.log.Debug("push: write failed", "conn", c.id, "err", err)
	_ = c.nc.Close()
}

// closeWith queues a final Error, Close or Kick frame and closes the connection
// once it is written. It reports whether this call started the close.
func (c *conn) closeWith(t wire.Type, code wire.Code, text string) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	if code == wire.CodeSlowConsumer || c.hold {
		// Queued messages are dropped: a slow client syncs on reconnect, and
		// one that never got its Welcome must not see messages first. The
		// rest of a frame partly written already stays (keep).
		c.buf = c.buf[:c.keep]
	}
	switch t {
	case wire.TypeError:
		c.buf = wire.AppendError(c.buf, code, text)
	case wire.TypeKick:
		c.buf = wire.AppendKick(c.buf, code, text) // see kick.go
	default:
		c.buf = wire.AppendClose(c.buf, code, text)
	}
	c.hold = false
	c.mu.Unlock()
	c.kick()
	return true
}

// flushLoop writes queued output until the queue is empty, then closes the
// connection if it is closing.
func (c *conn) flushLoop() {
	for {
		c.mu.Lock()
		if c.hold { // a hot restart is moving the conn: the rest of buf travels with it (hotrestart_handover.go)
			c.flushing = false
			c.mu.Unlock()
			return
		}
		if len(c.buf) == 0 {
			c.flushing = false
			c.releaseWriteBufs() // idle connections keep no write buffer
			closing := c.closing
			c.mu.Unlock()
			if closing {
				c.wsGoodbye()
				_ = c.nc.Close()
			}
			return
		}
		// Frames queued during the write go to a new buffer (enqueue);
		// this one returns to the pool once written.
		b := c.buf
		c.buf, c.keep = nil, 0
		c.mu.Unlock()

		err := c.write(b)
		putWriteBuf(b)
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// write copies b into the connection's output and flushes it. Flush blocks
// while the socket is full, up to the write timeout.
//
// netpoll frees a connection's output buffer in its own close callback, which
// runs after ours (onClosed); touching the Writer after that crashes inside
// netpoll. wmu and wclosed make write and onClosed exclusive, so a write
// either finishes before the buffer is freed or does not start. A Flush
// blocked on a full socket is woken by netpoll before any close callback.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return netpoll.ErrConnClosed
	}
	if !c.auditCheck("flush") { // tests: see fdaudit.go
		return errStaleFD
	}
	w := c.nc.Writer()
	if c.ws != nil {
		return c.writeWS(w, b)
	}
	dst, err := w.Malloc(len(b))
	if err != nil {
		return err
	}
	copy(dst, b)
	return w.Flush()
}
