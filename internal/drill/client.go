package drill

// The checking client speaks the wire protocol itself, frame by frame, and
// records every Message frame and every sync page raw, so that what the
// drill checks is what the nodes and the API sent, not what a client
// library's de-duplication and ordering let through. It behaves as
// push/PROTOCOL.md asks (Hello, pings, cumulative acks, sync on a gap, a
// Sync frame or an unknown version, move on Reconnect) and detects a
// vanished node by its silence: no frame for two heartbeats.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tetherim/tether/push/wire"
)

// client is one user's connection to the push nodes.
type client struct {
	u     *user
	addrs []string // the nodes' client links; starts at u's home node
	apis  []string // REST base URLs, for sync
	hb    time.Duration
	http  *http.Client
	wake  chan struct{} // asks the syncer to sync
	now   func() time.Time
	home  int // the node the client prefers (see goHome)

	mu       sync.Mutex
	cur      int      // the node of the current or last connection
	nc       net.Conn // the current connection once welcomed, else nil
	wantHome bool
}

func newClient(u *user, addrs, apis []string, hb time.Duration, hc *http.Client) *client {
	c := &client{u: u, addrs: addrs, apis: apis, hb: hb, http: hc, wake: make(chan struct{}, 1), now: time.Now}
	if len(addrs) > 0 {
		c.home = int(u.id) % len(addrs)
	}
	return c
}

// goHome moves the client back to its home node, so that every phase
// starts with the clients spread over both nodes (a fault before moved
// them all to one).
func (c *client) goHome() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != c.home && c.nc != nil {
		c.wantHome = true
		c.nc.Close()
	}
}

// atHome reports whether the client is connected to its home node.
func (c *client) atHome() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur == c.home && c.nc != nil
}

// run keeps the client connected until ctx ends.
func (c *client) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.syncer(ctx) }()
	node := c.home
	fails := 0
	for ctx.Err() == nil {
		c.mu.Lock()
		c.cur = node
		c.mu.Unlock()
		wait, err := c.session(ctx, c.addrs[node])
		if ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		c.nc = nil
		home := c.wantHome
		c.wantHome = false
		c.mu.Unlock()
		if home {
			node, fails = c.home, 0
			continue
		}
		c.u.disconnected(c.now(), c.addrs[node], err)
		node = (node + 1) % len(c.addrs) // the other node: this one failed or drains
		if wait == 0 {
			fails++
			wait = time.Duration(min(fails, 5)) * time.Duration(50+rand.IntN(150)) * time.Millisecond
		} else {
			fails = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	wg.Wait()
}

// session runs one connection until it ends. wait > 0 is the delay a
// draining node asked for before reconnecting.
func (c *client) session(ctx context.Context, addr string) (wait time.Duration, err error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()
	hello := wire.AppendHello(nil, wire.Hello{
		Version: wire.ProtocolVersion, LastVersion: c.u.watermark(), Token: c.u.token,
		Platform: "desktop", DeviceID: c.u.device, AppVersion: "drill",
	})
	_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(hello); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	// The handshake gets a few heartbeats: a loaded machine is slow, a
	// blackholed node never answers.
	_ = nc.SetReadDeadline(time.Now().Add(3 * c.hb))
	f, err := readFrame(r)
	if err != nil {
		return 0, fmt.Errorf("welcome: %w", err)
	}
	if f.Type != wire.TypeWelcome {
		return 0, fmt.Errorf("welcome: got %s %v", f.Type, f.Reason)
	}
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	c.u.connected(c.now())
	if f.Welcome.Flags&wire.FlagVersionUnknown != 0 || f.Welcome.CurrentVersion > c.u.watermark() {
		c.syncNow()
	}
	hb := time.Duration(f.Welcome.HeartbeatMS) * time.Millisecond
	if hb <= 0 {
		hb = c.hb
	}

	writeErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() { writeErr <- c.writer(nc, hb, done) }()

	conn := &connLog{seen: map[uint64]bool{}}
	for {
		select {
		case err := <-writeErr:
			return 0, err
		default:
		}
		_ = nc.SetReadDeadline(time.Now().Add(2 * hb)) // a pong comes every hb/2
		f, err := readFrame(r)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return 0, fmt.Errorf("no frame for %s (heartbeat): %w", 2*hb, err)
			}
			return 0, err
		}
		switch f.Type {
		case wire.TypeMessage:
			if gap := c.u.pushed(conn, f.Message.Version, f.Message.Body, c.now()); gap {
				c.syncNow()
			}
		case wire.TypeSync:
			if f.Current == 0 || f.Current > c.u.watermark() {
				c.syncNow()
			}
		case wire.TypeReconnect:
			return time.Duration(rand.Int64N(int64(f.Window)+1)) * time.Millisecond, fmt.Errorf("reconnect within %d ms", f.Window)
		case wire.TypeKick:
			c.u.kicked(c.now(), f.Reason)
			return 0, fmt.Errorf("kick %s: %s", f.Reason.Code, f.Reason.Text)
		case wire.TypeError, wire.TypeClose:
			return 0, fmt.Errorf("%s %s: %s", f.Type, f.Reason.Code, f.Reason.Text)
		}
	}
}

// writer pings every half heartbeat and acks the watermark when it moved.
func (c *client) writer(nc net.Conn, hb time.Duration, done <-chan struct{}) error {
	ping := time.NewTicker(hb / 2)
	defer ping.Stop()
	ack := time.NewTicker(250 * time.Millisecond)
	defer ack.Stop()
	var acked uint64
	var buf []byte
	for {
		buf = buf[:0]
		select {
		case <-done:
			return nil
		case <-ping.C:
			buf = wire.AppendPing(buf, []byte{1})
		case <-ack.C:
			if w := c.u.watermark(); w > acked {
				acked = w
				buf = wire.AppendAck(buf, w)
			}
		}
		if len(buf) == 0 {
			continue
		}
		_ = nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write(buf); err != nil {
			nc.Close()
			return err
		}
	}
}

func readFrame(r *bufio.Reader) (wire.Frame, error) {
	var hdr [wire.HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return wire.Frame{}, err
	}
	t, n, err := wire.ParseHeader(hdr[:], 4<<20)
	if err != nil {
		return wire.Frame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return wire.Frame{}, err
	}
	return wire.DecodePayload(t, p)
}

func (c *client) syncNow() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// syncer fetches the timeline after the watermark whenever asked, until
// the page says there is no more, retrying (on either API) until it got
// through.
func (c *client) syncer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		for try := 0; ctx.Err() == nil; try++ {
			if err := c.syncOnce(ctx, c.apis[(int(c.u.id)+try)%len(c.apis)]); err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(min(try+1, 10)) * 100 * time.Millisecond):
			}
		}
	}
}

// syncOnce syncs from the watermark to the head.
func (c *client) syncOnce(ctx context.Context, api string) error {
	for {
		since := c.u.watermark()
		page, err := c.syncPage(ctx, api, since)
		if err != nil {
			return err
		}
		at := c.now()
		for _, raw := range page.Entries {
			var v struct {
				Version uint64 `json:"version"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("drill: sync entry: %w", err)
			}
			c.u.synced(v.Version, raw, at)
		}
		if !page.HasMore {
			return nil
		}
		if c.u.watermark() == since { // a page that moved nothing: a hole in the timeline
			return fmt.Errorf("drill: user %d: sync after %d moved nothing", c.u.id, since)
		}
	}
}

type syncPage struct {
	Entries []json.RawMessage `json:"entries"`
	HasMore bool              `json:"has_more"`
}

func (c *client) syncPage(ctx context.Context, api string, since uint64) (syncPage, error) {
	var page syncPage
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/sync?limit=200&since="+strconv.FormatUint(since, 10), nil)
	if err != nil {
		return page, err
	}
	req.Header.Set("Authorization", "Bearer "+c.u.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return page, fmt.Errorf("drill: sync: %s: %s", resp.Status, b)
	}
	c.u.syncPages.Add(1)
	return page, json.NewDecoder(resp.Body).Decode(&page)
}
