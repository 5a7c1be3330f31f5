package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// ErrDeadConnection means the server sent nothing, not even a Pong, for two
// heartbeat intervals. The client reconnects.
var ErrDeadConnection = errors.New("tether client: connection dead: no frame for two heartbeat intervals")

// CloseError is a connection ended by the server with an Error or Close
// frame, or a handshake the server refused.
type CloseError struct {
	Frame wire.Type // wire.TypeError or wire.TypeClose
	Code  wire.Code
	Text  string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("tether client: server sent %s %s: %s", e.Frame, e.Code, e.Text)
}

// closeWait bounds the orderly goodbye (final ack and Close frame) when the
// client stops.
const closeWait = time.Second

// event is what a connection's reader hands the run loop: a frame that
// matters to it, or the error that ended reading.
type event struct {
	frame wire.Frame
	err   error
}

// frameReader reads whole frames off a connection.
type frameReader struct {
	r   *bufio.Reader
	max int
	hdr [wire.HeaderSize]byte
}

func (fr *frameReader) read() (wire.Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return wire.Frame{}, err
	}
	t, n, err := wire.ParseHeader(fr.hdr[:], fr.max)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("tether client: %s frame: %w", t, err)
	}
	// A fresh payload per frame: decoded bodies alias it and outlive the read.
	p := make([]byte, n)
	if _, err := io.ReadFull(fr.r, p); err != nil {
		return wire.Frame{}, err
	}
	f, err := wire.DecodePayload(t, p)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("tether client: %s frame: %w", t, err)
	}
	return f, nil
}

// conn is one established push connection. Its reader and writer
// goroutines are owned by it and stopped by close.
type conn struct {
	nc        net.Conn
	fr        *frameReader
	stats     *counters
	heartbeat time.Duration
	proto     uint8 // the protocol version the Welcome granted; 2: acks on heartbeats (heartbeat.go)
	ackEvery  time.Duration
	writeWait time.Duration  // per-write deadline
	delivered *atomic.Uint64 // the client's last delivered version, acked from here

	events   chan event    // reader -> run loop
	ackNow   chan struct{} // run loop -> writer: enough versions are unacked
	signals  chan []byte   // SendSignal -> writer: encoded Signal frames
	pushAcks chan string   // ackPush -> writer: ids of handled pushes (transient.go)
	acked    atomic.Uint64 // highest version acked on this connection

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	writeBuf []byte   // owned by whoever writes: the handshake, then the writer, then close
	unsent   []string // version 2: push ids handled but not yet sent in a Heartbeat; owned like writeBuf
}

// dial connects and performs the handshake. On success the connection's
// goroutines are running and the caller must call close.
func dial(ctx context.Context, cfg *Config, addr string, stats *counters, h wire.Hello, delivered *atomic.Uint64) (*conn, wire.Welcome, error) {
	nc, err := dialTransport(ctx, addr, cfg.DialTimeout)
	if err != nil {
		return nil, wire.Welcome{}, fmt.Errorf("tether client: dial %s: %w", addr, err)
	}
	c := &conn{
		nc:        nc,
		fr:        &frameReader{r: bufio.NewReaderSize(nc, 16<<10), max: cfg.MaxFrame},
		stats:     stats,
		ackEvery:  cfg.AckInterval,
		delivered: delivered,
		events:    make(chan event, 256),
		ackNow:    make(chan struct{}, 1),
		signals:   make(chan []byte, signalQueue),
		pushAcks:  make(chan string, pushAckQueue),
		stop:      make(chan struct{}),
	}
	// The handshake deadline also covers a ctx cancelled mid-handshake.
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	unwatch := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	w, err := c.handshake(h)
	if !unwatch() && err == nil {
		err = ctx.Err() // cancelled as the handshake finished: the deadline may be spoiled
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, wire.Welcome{}, ctx.Err()
		}
		return nil, wire.Welcome{}, err
	}
	_ = nc.SetDeadline(time.Time{})
	c.heartbeat = time.Duration(w.HeartbeatMS) * time.Millisecond
	if c.heartbeat <= 0 {
		c.heartbeat = DefaultHeartbeat
	}
	c.writeWait = c.deadAfter()
	c.proto = max(w.Version, 1)
	c.acked.Store(h.LastVersion)
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c, w, nil
}

func (c *conn) handshake(h wire.Hello) (wire.Welcome, error) {
	c.writeBuf = wire.AppendHello(c.writeBuf[:0], h)
	if _, err := c.nc.Write(c.writeBuf); err != nil {
		return wire.Welcome{}, fmt.Errorf("tether client: send hello: %w", err)
	}
	c.sent(&c.stats.hellos)
	f, err := c.fr.read()
	if err != nil {
		return wire.Welcome{}, fmt.Errorf("tether client: read welcome: %w", err)
	}
	c.stats.framesRecv.Add(1)
	switch f.Type {
	case wire.TypeWelcome:
		return f.Welcome, nil
	case wire.TypeError, wire.TypeClose:
		return wire.Welcome{}, &CloseError{Frame: f.Type, Code: f.Reason.Code, Text: f.Reason.Text}
	case wire.TypeKick:
		// A newer session replaced this one while its handshake ran.
		return wire.Welcome{}, kicked(f)
	}
	return wire.Welcome{}, fmt.Errorf("tether client: expected welcome, got %s", f.Type)
}

func (c *conn) sent(n *atomic.Uint64) {
	n.Add(1)
	c.stats.framesSent.Add(1)
}

// deadAfter is how long silence is tolerated: two heartbeats, since every
// ping is answered.
func (c *conn) deadAfter() time.Duration { return 2 * c.heartbeat }

func (c *conn) readLoop() {
	defer c.wg.Done()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.deadAfter()))
		f, err := c.fr.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded) {
				select {
				case <-c.stop: // our own close interrupted the read
					return
				default:
				}
				err = ErrDeadConnection
			}
			c.emit(event{err: err})
			return
		}
		c.stats.framesRecv.Add(1)
		switch f.Type {
		case wire.TypePong:
			c.stats.pongs.Add(1)
		case wire.TypeMessage:
			c.stats.messages.Add(1)
			if !c.emit(event{frame: f}) {
				return
			}
		case wire.TypeSync, wire.TypePush, wire.TypeSignal:
			if !c.emit(event{frame: f}) {
				return
			}
		case wire.TypeError, wire.TypeClose, wire.TypeReconnect, wire.TypeKick:
			c.emit(event{frame: f})
			return
		default:
			c.emit(event{err: fmt.Errorf("tether client: unexpected %s frame from server", f.Type)})
			return
		}
	}
}

// emit hands an event to the run loop unless the connection is stopping.
func (c *conn) emit(ev event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.stop:
		return false
	}
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	if c.heartbeatAcks() {
		c.heartbeatLoop() // heartbeat.go
		return
	}
	ping := time.NewTicker(c.heartbeat)
	defer ping.Stop()
	ack := time.NewTicker(c.ackEvery)
	defer ack.Stop()
	for {
		var err error
		select {
		case <-c.stop:
			return
		case <-ping.C:
			err = c.write(wire.AppendPing(c.writeBuf[:0], nil), &c.stats.pings)
		case <-ack.C:
			err = c.flushAck()
		case <-c.ackNow:
			err = c.flushAck()
		case f := <-c.signals:
			err = c.write(f, &c.stats.signalsSent)
		case id := <-c.pushAcks:
			err = c.write(wire.AppendPushAck(c.writeBuf[:0], id), &c.stats.pushAcks)
		}
		if err != nil {
			c.emit(event{err: fmt.Errorf("tether client: write: %w", err)})
			return
		}
	}
}

// flushAck acks everything delivered so far, if that is more than was acked.
func (c *conn) flushAck() error {
	v := c.delivered.Load()
	if v <= c.acked.Load() {
		return nil
	}
	if err := c.write(wire.AppendAck(c.writeBuf[:0], v), &c.stats.acks); err != nil {
		return err
	}
	c.acked.Store(v)
	return nil
}

func (c *conn) write(frame []byte, counter *atomic.Uint64) error {
	c.writeBuf = frame
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeWait))
	if _, err := c.nc.Write(frame); err != nil {
		return err
	}
	c.sent(counter)
	return nil
}

// requestAck asks the writer to ack now; a request already pending covers it.
func (c *conn) requestAck() {
	select {
	case c.ackNow <- struct{}{}:
	default:
	}
}

// close stops the goroutines and closes the socket. With goodbye it first
// acks what was delivered (on version 2 in a last Heartbeat, with the push
// ids not yet reported) and sends Close(normal), so the server's records
// are current and it need not wait for a timeout.
func (c *conn) close(goodbye bool) {
	c.stopOnce.Do(func() {
		close(c.stop)
		// Unblock a reader parked in Read; the writer sees stop.
		_ = c.nc.SetReadDeadline(time.Now())
		c.wg.Wait()
		if goodbye {
			c.writeWait = closeWait
			if c.finalAcks() == nil {
				_ = c.write(wire.AppendClose(c.writeBuf[:0], wire.CodeNormal, "client closing"), &c.stats.closes)
			}
		}
		c.nc.Close()
	})
}
