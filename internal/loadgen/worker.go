package loadgen

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

// WorkerConfig is one worker process's share of a load run: Count
// connections for the users FirstUID .. FirstUID+Count-1, one device each.
type WorkerConfig struct {
	ID          int                // worker number, echoed in its status lines
	Addr        string             // push node TCP address
	Key         ed25519.PrivateKey // signs the users' access tokens (the node verifies them locally)
	FirstUID    int64
	Count       int
	Platform    string        // platform claim of every session (default "desktop")
	Concurrency int           // dials and handshakes in flight (default 64)
	TokenTTL    time.Duration // lifetime of the minted tokens (default 1h)
	Interval    time.Duration // how often a status line is written (default 200ms)
	// PushAcks answers every Push with a PushAck frame, as a protocol
	// version 1 client does (push/client), so that a broadcast bench
	// measures what reading them costs the node.
	PushAcks bool
}

// Status is one status line a worker writes (JSON, one per line) to its
// parent. Counters are cumulative.
type Status struct {
	Worker        int    `json:"worker"`
	Connected     int64  `json:"connected"`       // handshakes completed (Welcome received)
	Failed        int64  `json:"failed"`          // dials or handshakes that failed
	Received      int64  `json:"received"`        // connections that got at least one Message or Push
	Frames        int64  `json:"frames"`          // Message and Push frames received in total
	Closed        int64  `json:"closed"`          // connections lost after their handshake
	LastReceiveNS int64  `json:"last_receive_ns"` // unix ns of the newest Message or Push
	FirstDialNS   int64  `json:"first_dial_ns"`   // unix ns when the worker began dialing
	LastConnectNS int64  `json:"last_connect_ns"` // unix ns of the newest Welcome
	Dialed        bool   `json:"dialed"`          // every connection has been attempted
	FirstError    string `json:"first_error,omitempty"`
}

// handshakeTimeout bounds one dial plus handshake.
const handshakeTimeout = 15 * time.Second

// worker holds the live connections of one worker process.
type worker struct {
	cfg    WorkerConfig
	signer *token.Signer

	connected, failed, received, frames, closed, lastRecv atomic.Int64
	firstDial, lastConnect                                atomic.Int64
	dialed                                                atomic.Bool
	errOnce                                               sync.Once
	firstErr                                              atomic.Value // string

	mu    sync.Mutex
	conns []*benchConn
	hb    time.Duration // ping interval the node asked for
}

// benchConn is one lean client connection: a socket, its reader goroutine
// and whether it has received anything yet. Reads are buffered so that a
// frame costs the client one read, not one for its header and one for its
// payload: the clients share the machine with the node they measure.
type benchConn struct {
	nc  net.Conn
	r   *bufio.Reader
	wmu sync.Mutex // pings come from the pinger goroutine
	got bool       // set by the reader only
}

// RunWorker opens the worker's connections, keeps them alive with pings
// and writes a Status line to out every Interval until ctx ends, then closes
// every connection and returns after a final Status line.
func RunWorker(ctx context.Context, cfg WorkerConfig, out io.Writer) error {
	switch {
	case cfg.Addr == "" || len(cfg.Key) != ed25519.PrivateKeySize:
		return errors.New("loadgen: worker needs an address and a private key")
	case cfg.Count <= 0 || cfg.FirstUID <= 0:
		return errors.New("loadgen: worker needs a positive count and first user id")
	}
	if cfg.Platform == "" {
		cfg.Platform = "desktop"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	w := &worker{cfg: cfg, signer: token.NewSigner(cfg.Key, cfg.TokenTTL)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var readers, loops sync.WaitGroup
	loops.Add(2)
	go func() { defer loops.Done(); w.report(ctx, out) }()
	go func() { defer loops.Done(); w.pinger(ctx) }()

	sem := make(chan struct{}, cfg.Concurrency)
	w.firstDial.Store(time.Now().UnixNano())
dial:
	for i := range cfg.Count {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dial
		}
		readers.Add(1)
		go func(uid int64) {
			defer readers.Done()
			c, err := w.open(ctx, uid)
			<-sem
			if err != nil {
				w.failed.Add(1)
				w.noteErr(err)
				return
			}
			w.read(c)
		}(cfg.FirstUID + int64(i))
	}
	w.dialed.Store(true)

	<-ctx.Done()
	w.mu.Lock()
	for _, c := range w.conns {
		_ = c.nc.Close()
	}
	w.mu.Unlock()
	readers.Wait()
	cancel()
	loops.Wait()
	return json.NewEncoder(out).Encode(w.status())
}

// open dials and completes the handshake of user uid.
func (w *worker) open(ctx context.Context, uid int64) (*benchConn, error) {
	dev := "bench-" + strconv.FormatInt(uid, 10)
	tok, _, err := w.signer.Sign(token.Claims{UserID: uid, DeviceID: dev, Platform: w.cfg.Platform, SessionID: dev})
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: handshakeTimeout}
	nc, err := d.DialContext(ctx, "tcp", w.cfg.Addr)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.ProtocolVersion, Token: tok, Platform: w.cfg.Platform, DeviceID: dev, AppVersion: "bench"})
	if _, err := nc.Write(hello); err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, readBufSize)
	f, err := readFrame(br)
	if err == nil && f.Type != wire.TypeWelcome {
		err = fmt.Errorf("loadgen: handshake answered with %s %s %q", f.Type, f.Reason.Code, f.Reason.Text)
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c := &benchConn{nc: nc, r: br}
	w.lastConnect.Store(time.Now().UnixNano())
	w.mu.Lock()
	if w.hb == 0 {
		w.hb = time.Duration(f.Welcome.HeartbeatMS) * time.Millisecond
	}
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	w.connected.Add(1)
	if ctx.Err() != nil {
		// RunWorker may have closed the others already.
		_ = nc.Close()
	}
	return c, nil
}

// read consumes frames until the connection ends.
func (w *worker) read(c *benchConn) {
	for {
		f, err := readFrame(c.r)
		if err != nil {
			w.closed.Add(1)
			if !errors.Is(err, net.ErrClosed) {
				w.noteErr(err)
			}
			return
		}
		switch f.Type {
		case wire.TypeMessage, wire.TypePush:
			if f.Type == wire.TypePush && w.cfg.PushAcks {
				var b [wire.HeaderSize + 1 + 64]byte
				c.wmu.Lock()
				_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.nc.Write(wire.AppendPushAck(b[:0], f.Push.ID)) // a dead connection shows up in the read
				c.wmu.Unlock()
			}
			w.frames.Add(1)
			w.lastRecv.Store(time.Now().UnixNano())
			if !c.got {
				c.got = true
				w.received.Add(1)
			}
		case wire.TypeError, wire.TypeClose, wire.TypeKick, wire.TypeReconnect:
			w.noteErr(fmt.Errorf("loadgen: server sent %s %s %q", f.Type, f.Reason.Code, f.Reason.Text))
		}
	}
}

// pinger pings every connection once per heartbeat interval, spread evenly
// over the interval so the node sees a steady trickle, as from real clients.
func (w *worker) pinger(ctx context.Context) {
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var ping [wire.HeaderSize + 8]byte
	frame := wire.AppendPing(ping[:0], []byte("bench"))
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		hb, conns := w.hb, w.conns
		w.mu.Unlock()
		slots := int(hb / tick)
		if slots < 1 {
			slots = 1
		}
		for i := k % slots; i < len(conns); i += slots {
			c := conns[i]
			c.wmu.Lock()
			_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.nc.Write(frame) // a dead connection shows up in its reader
			c.wmu.Unlock()
		}
	}
}

// report writes a Status line every Interval while anything changed.
func (w *worker) report(ctx context.Context, out io.Writer) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	enc := json.NewEncoder(out)
	var last Status
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := w.status()
		if s != last {
			if err := enc.Encode(s); err != nil {
				return // the parent is gone; it stops us by closing stdin
			}
			last = s
		}
	}
}

func (w *worker) status() Status {
	s := Status{
		Worker:        w.cfg.ID,
		Connected:     w.connected.Load(),
		Failed:        w.failed.Load(),
		Received:      w.received.Load(),
		Frames:        w.frames.Load(),
		Closed:        w.closed.Load(),
		LastReceiveNS: w.lastRecv.Load(),
		FirstDialNS:   w.firstDial.Load(),
		LastConnectNS: w.lastConnect.Load(),
		Dialed:        w.dialed.Load(),
	}
	s.FirstError, _ = w.firstErr.Load().(string)
	return s
}

func (w *worker) noteErr(err error) {
	w.errOnce.Do(func() { w.firstErr.Store(err.Error()) })
}

// readBufSize is a client connection's read buffer: several small frames.
const readBufSize = 512

// readFrame reads one whole frame from r, allocating only its payload.
func readFrame(r io.Reader) (wire.Frame, error) {
	var hdr [wire.HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return wire.Frame{}, err
	}
	t, n, err := wire.ParseHeader(hdr[:], 16<<20)
	if err != nil {
		return wire.Frame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return wire.Frame{}, err
	}
	return wire.DecodePayload(t, p)
}
