package push

import (
	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/push/wire"
)

// A connection's output goes through its own queue (buf) and at most one
// flushLoop at a time, which alone touches the netpoll Writer: the consumer
// and the connection's handler never write concurrently, and a client that
// stops reading blocks only its own flushLoop, never the consumer.

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

// kick starts a flushLoop if output is waiting and none is running.
func (c *conn) kick() {
	c.mu.Lock()
	if c.flushing || c.hold || len(c.buf) == 0 {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	c.mu.Unlock()
	c.n.spawn(c.flushLoop)
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
		// one that never got its Welcome must not see messages first.
		c.buf = c.buf[:0]
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
		if c.hold { // a hot restart is moving the conn: the rest of buf travels with it (upgrade.go)
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
		c.buf = nil
		c.mu.Unlock()

		err := c.write(b)
		putWriteBuf(b)

		c.mu.Lock()
		if err != nil {
			// Still flushing: nobody else may start a writer on a dead conn.
			c.closing = true
			c.buf = nil
		}
		c.mu.Unlock()
		if err != nil {
			c.n.log.Debug("push: write failed", "conn", c.id, "err", err)
			_ = c.nc.Close()
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
