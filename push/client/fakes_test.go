package client

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/wire"
)

// testUserID is the only user the fake REST server knows.
const testUserID = 7

// fakeAPI is a scripted stand-in for the REST API: one user with a timeline,
// rotating tokens, and switches to make endpoints fail.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	timeline    []tether.Entry // timeline[i].Version == i+1
	access      map[string]bool
	refresh     map[string]bool
	ttl         time.Duration
	seq         int
	logins      int
	refreshes   int
	syncs       []uint64  // since of each sync request
	failSyncs   int       // answer this many syncs with 503 first
	failSends   int       // answer this many sends with 503 first
	sendStatus  int       // with failSends: the status of those answers (default 503)
	outageUntil time.Time // answer every send with 503 until then (a database outage)
	retryAfter  string    // Retry-After of the outage's 503s
	sendIDs     []string  // client_msg_id of every send request
	messages    map[string]*tether.Message
	lastAuthHdr string
	pushNodes   []tether.PushNode // GET /v1/push-nodes answers these
	discoveries int               // GET /v1/push-nodes requests
	failNodes   bool              // answer GET /v1/push-nodes with 503
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, access: map[string]bool{}, refresh: map[string]bool{}, ttl: time.Hour, messages: map[string]*tether.Message{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", f.login)
	mux.HandleFunc("POST /v1/sessions/refresh", f.refreshHandler)
	mux.HandleFunc("GET /v1/sync", f.sync)
	mux.HandleFunc("POST /v1/messages", f.send)
	mux.HandleFunc("GET /v1/push-nodes", f.nodes)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail, "code": code,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// issue mints a token pair; f.mu must be held.
func (f *fakeAPI) issue() tether.Tokens {
	f.seq++
	t := tether.Tokens{
		AccessToken:  fmt.Sprintf("access-%d", f.seq),
		TokenType:    "Bearer",
		ExpiresAt:    time.Now().Add(f.ttl),
		RefreshToken: fmt.Sprintf("refresh-%d", f.seq),
		UserID:       testUserID,
		SessionID:    "sess-1",
	}
	f.access[t.AccessToken] = true
	f.refresh[t.RefreshToken] = true
	return t
}

func (f *fakeAPI) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Username, Password, DeviceID, Platform string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeProblem(w, 400, tether.EINVALID, "bad json")
		return
	}
	if len(in.Username) < tether.MinUsernameLen {
		writeProblem(w, 400, tether.EINVALID, "username too short")
		return
	}
	if in.Username != "alice" || in.Password != "correct horse" {
		writeProblem(w, 401, tether.EUNAUTHORIZED, "wrong username or password")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins++
	writeJSON(w, 201, f.issue())
}

func (f *fakeAPI) refreshHandler(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.refresh[in.RefreshToken] {
		writeProblem(w, 401, tether.EUNAUTHORIZED, "refresh token not valid")
		return
	}
	delete(f.refresh, in.RefreshToken) // rotation: a refresh token works once
	f.refreshes++
	writeJSON(w, 200, f.issue())
}

// authorized checks the bearer token; f.mu must be held.
func (f *fakeAPI) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.lastAuthHdr = tok
	if !ok || !f.access[tok] {
		writeProblem(w, 401, tether.EUNAUTHORIZED, "access token not valid")
		return false
	}
	return true
}

func (f *fakeAPI) sync(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorized(w, r) {
		return
	}
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if err != nil {
		writeProblem(w, 400, tether.EINVALID, "bad since")
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > tether.MaxPageSize {
		limit = tether.DefaultPageSize
	}
	f.syncs = append(f.syncs, since)
	if f.failSyncs > 0 {
		f.failSyncs--
		writeProblem(w, 503, tether.EUNAVAILABLE, "database unavailable")
		return
	}
	page := tether.SyncPage{Entries: []tether.Entry{}, NextSince: since, HeadVersion: uint64(len(f.timeline))}
	for v := since + 1; v <= uint64(len(f.timeline)) && len(page.Entries) < limit; v++ {
		page.Entries = append(page.Entries, f.timeline[v-1])
		page.NextSince = v
	}
	page.HasMore = page.NextSince < page.HeadVersion
	writeJSON(w, 200, page)
}

func (f *fakeAPI) send(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RecipientID int64           `json:"recipient_id"`
		ClientMsgID string          `json:"client_msg_id"`
		Type        string          `json:"type"`
		Content     json.RawMessage `json:"content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeProblem(w, 400, tether.EINVALID, "bad json")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorized(w, r) {
		return
	}
	f.sendIDs = append(f.sendIDs, in.ClientMsgID)
	if time.Now().Before(f.outageUntil) {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeProblem(w, 503, tether.EUNAVAILABLE, "The database is unavailable; retry later.")
		return
	}
	if f.failSends > 0 && f.sendStatus != 0 {
		f.failSends--
		writeProblem(w, f.sendStatus, "", "scripted failure")
		return
	}
	if f.failSends > 0 {
		f.failSends--
		// The first failure happens after storing, as when a response is lost.
		if len(f.sendIDs) == 1 {
			f.messages[in.ClientMsgID] = &tether.Message{ID: int64(len(f.messages) + 1), SenderID: testUserID, RecipientID: in.RecipientID, ClientMsgID: in.ClientMsgID, Type: in.Type, Content: in.Content}
		}
		writeProblem(w, 503, tether.EUNAVAILABLE, "try again")
		return
	}
	if m, ok := f.messages[in.ClientMsgID]; ok {
		writeJSON(w, 200, m)
		return
	}
	m := &tether.Message{ID: int64(len(f.messages) + 1), SenderID: testUserID, RecipientID: in.RecipientID, ClientMsgID: in.ClientMsgID, Type: in.Type, Content: in.Content}
	f.messages[in.ClientMsgID] = m
	writeJSON(w, 201, m)
}

// grow appends entries to the timeline up to version n.
func (f *fakeAPI) grow(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := len(f.timeline) + 1; v <= n; v++ {
		f.timeline = append(f.timeline, testEntry(uint64(v)))
	}
}

// revokeAccess makes every issued access token invalid, as if expired.
func (f *fakeAPI) revokeAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.access = map[string]bool{}
}

func (f *fakeAPI) counts() (logins, refreshes int, syncs []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins, f.refreshes, append([]uint64(nil), f.syncs...)
}

func testEntry(v uint64) tether.Entry {
	return tether.Entry{Version: v, Kind: tether.EntryMessage, Message: &tether.Message{
		ID: int64(v), ConversationID: "d:7:8", SenderID: 8, RecipientID: testUserID,
		ClientMsgID: fmt.Sprintf("c%d", v), Type: tether.MessageText,
		Content: json.RawMessage(fmt.Sprintf(`{"text":"m%d"}`, v)),
	}}
}

// pushBody is the body of a Message frame: the entry without its version.
func pushBody(v uint64) []byte {
	e := testEntry(v)
	b, _ := json.Marshal(struct {
		Kind    string          `json:"kind"`
		Message *tether.Message `json:"message"`
	}{e.Kind, e.Message})
	return b
}

// fakePush is a scripted push node: the test takes each accepted
// connection (after its Hello) from conns and drives it.
type fakePush struct {
	t     *testing.T
	ln    net.Listener
	conns chan *fakeConn
	wg    sync.WaitGroup

	mu  sync.Mutex
	all []*fakeConn
}

func newFakePush(t *testing.T) *fakePush {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePush{t: t, ln: ln, conns: make(chan *fakeConn, 16)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.all {
			c.nc.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *fakePush) addr() string { return p.ln.Addr().String() }

func (p *fakePush) accept() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{nc: nc, r: bufio.NewReader(nc), done: make(chan struct{}), got: make(chan wire.Frame, 4096)}
		p.mu.Lock()
		p.all = append(p.all, c)
		p.mu.Unlock()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := c.readFrame()
		_ = nc.SetReadDeadline(time.Time{})
		if err != nil || f.Type != wire.TypeHello {
			nc.Close()
			continue
		}
		c.hello = f.Hello
		p.conns <- c
	}
}

// next returns the next connection that said Hello.
func (p *fakePush) next() *fakeConn {
	p.t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(10 * time.Second):
		p.t.Fatal("no connection from the client")
		return nil
	}
}

// fakeConn is one client connection on the fake push node.
type fakeConn struct {
	nc    net.Conn
	r     *bufio.Reader
	hello wire.Hello

	wmu  sync.Mutex
	mute atomic.Bool // stop answering pings
	done chan struct{}
	got  chan wire.Frame // frames after Hello, pongs answered already

	mu     sync.Mutex
	frames []wire.Frame
}

func (c *fakeConn) readFrame() (wire.Frame, error) {
	var hdr [wire.HeaderSize]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return wire.Frame{}, err
	}
	t, n, err := wire.ParseHeader(hdr[:], wire.DefaultMaxPayload)
	if err != nil {
		return wire.Frame{}, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return wire.Frame{}, err
	}
	return wire.DecodePayload(t, p)
}

// welcome accepts the handshake as a version 1 node and starts answering pings.
func (c *fakeConn) welcome(current uint64, flags uint8, heartbeatMS uint32) {
	c.welcomeV(1, current, flags, heartbeatMS)
}

// welcomeV accepts the handshake granting protocol version v.
func (c *fakeConn) welcomeV(v uint8, current uint64, flags uint8, heartbeatMS uint32) {
	c.write(wire.AppendWelcome(nil, wire.Welcome{
		Version: v, Flags: flags, CurrentVersion: current,
		HeartbeatMS: heartbeatMS, MaxPayload: wire.DefaultMaxPayload, SessionID: "s1",
	}))
	go c.serve()
}

func (c *fakeConn) serve() {
	defer close(c.done)
	for {
		f, err := c.readFrame()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
		if (f.Type == wire.TypePing || f.Type == wire.TypeHeartbeat) && !c.mute.Load() {
			c.write(wire.AppendPong(nil, f.Ping))
		}
		select {
		case c.got <- f:
		default:
		}
	}
}

func (c *fakeConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.nc.Write(b)
}

func (c *fakeConn) push(versions ...uint64) {
	var b []byte
	for _, v := range versions {
		b = wire.AppendMessage(b, v, pushBody(v))
	}
	c.write(b)
}

// end sends an Error or Close frame and closes, as the server does.
func (c *fakeConn) end(t wire.Type, code wire.Code) {
	if t == wire.TypeError {
		c.write(wire.AppendError(nil, code, code.String()))
	} else {
		c.write(wire.AppendClose(nil, code, code.String()))
	}
	c.nc.Close()
}

// count returns how many frames of type t the client sent after Hello.
func (c *fakeConn) count(t wire.Type) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f.Type == t {
			n++
		}
	}
	return n
}

// framesOf returns the frames of type t the client sent after Hello.
func (c *fakeConn) framesOf(t wire.Type) []wire.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wire.Frame
	for _, f := range c.frames {
		if f.Type == t {
			out = append(out, f)
		}
	}
	return out
}

// recorder is a Handler that records what it is given.
type recorder struct {
	mu      sync.Mutex
	entries []tether.Entry
}

func (r *recorder) handle(e tether.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

func (r *recorder) versions() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.Version
	}
	return out
}

// requireExactly checks the handler saw exactly from..to, in order, once each.
func (r *recorder) requireExactly(t *testing.T, from, to uint64) {
	t.Helper()
	got := r.versions()
	if uint64(len(got)) != to-from+1 {
		t.Fatalf("handler saw %d entries %v, want versions %d..%d", len(got), got, from, to)
	}
	for i, v := range got {
		if v != from+uint64(i) {
			t.Fatalf("handler saw %v, want versions %d..%d in order", got, from, to)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if e.Message == nil || e.Message.ClientMsgID != fmt.Sprintf("c%d", e.Version) {
			t.Fatalf("entry %d carries the wrong message: %+v", e.Version, e.Message)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (f *fakeAPI) nodes(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discoveries++
	if f.failNodes {
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "registry down")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": f.pushNodes})
}

func (f *fakeAPI) setNodes(fail bool, nodes ...tether.PushNode) {
	f.mu.Lock()
	f.failNodes, f.pushNodes = fail, nodes
	f.mu.Unlock()
}
