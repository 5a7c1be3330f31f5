package handoff

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/shared/route"
)

// socketPath is a fresh upgrade socket path; short, since Unix socket paths
// are limited to 108 bytes.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ho")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "up.sock")
}

type accepted struct {
	c    *Conn
	peer Hello
	err  error
}

// pair listens at a fresh path, dials it as newer and answers as older.
// It returns the new side's result and the old side's.
func pair(t *testing.T, older, newer Hello) (*Conn, Hello, error, accepted) {
	t.Helper()
	path := socketPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan accepted, 1)
	go func() {
		uc, err := ln.AcceptUnix()
		if err != nil {
			got <- accepted{err: err}
			return
		}
		c, peer, err := Accept(uc, older, 10*time.Second)
		if err != nil {
			_ = uc.Close()
		}
		got <- accepted{c, peer, err}
	}()
	c, peer, err := Dial(context.Background(), path, newer, 10*time.Second)
	a := <-got
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	if a.c != nil {
		t.Cleanup(func() { _ = a.c.Close() })
	}
	return c, peer, err, a
}

// socketPair returns both ends of a fresh Unix stream socket pair.
func socketPair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fds[0]); _ = syscall.Close(fds[1]) })
	return fds[0], fds[1]
}

// sameSocket proves that got, a received descriptor, is the socket whose
// other end is peer: bytes written to it arrive there.
func sameSocket(t *testing.T, got, peer int) {
	t.Helper()
	if _, err := syscall.Write(got, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, err := syscall.Read(peer, b[:]); n != 1 || err != nil || b[0] != 'x' {
		t.Fatalf("the received descriptor is not the socket sent: read %d %q %v", n, b[:n], err)
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

func TestConversation_ListenersConnsAndEndArriveWithTheirDescriptors(t *testing.T) {
	nc, oldHello, err, old := pair(t, Me("n1"), Me("n1"))
	if err != nil || old.err != nil {
		t.Fatalf("hellos: new side %v, old side %v", err, old.err)
	}
	if oldHello.PID != os.Getpid() || old.peer.NodeID != "n1" || old.peer.Version != Version {
		t.Fatalf("hellos: new side saw %+v, old side saw %+v", oldHello, old.peer)
	}
	oc := old.c

	lsock, lpeer := socketPair(t)
	listeners := []ListenerState{{Name: "tcp", Addr: "127.0.0.1:7070"}}
	var conns []ConnState
	var sent, peers []int
	for i := range Batch + 3 { // two batches
		s, p := socketPair(t)
		sent, peers = append(sent, s), append(peers, p)
		conns = append(conns, ConnState{
			ID: "c" + strings.Repeat("x", i%7), Open: i%2 == 0, UID: int64(i),
			Session: route.Session{DeviceID: "phone", NodeID: "n1", Platform: "ios", ConnID: "c"},
			WS:      &WSState{Upgraded: true, Req: []byte("GET"), Status: 1000},
			In:      []byte{1, 2, 3}, Out: []byte("queued"),
		})
	}
	end := End{Acks: []route.Ack{{UserID: 7, DeviceID: "phone", Version: 42}}}

	sendErr := make(chan error, 1)
	go func() {
		sendErr <- func() error {
			if err := oc.SendListeners(listeners, []int{lsock}); err != nil {
				return err
			}
			if err := oc.SendConns(conns[:Batch], sent[:Batch]); err != nil {
				return err
			}
			if err := oc.SendConns(conns[Batch:], sent[Batch:]); err != nil {
				return err
			}
			if err := oc.SendEnd(end); err != nil {
				return err
			}
			return oc.WaitDone()
		}()
	}()

	ls, lfds, err := nc.RecvListeners()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ls, listeners) || len(lfds) != 1 {
		t.Fatalf("listeners: got %+v with %d descriptors", ls, len(lfds))
	}
	sameSocket(t, lfds[0], lpeer)
	CloseFDs(lfds)

	var gotConns []ConnState
	var gotEnd *End
	for gotEnd == nil {
		cs, fds, e, err := nc.RecvConns()
		if err != nil {
			t.Fatal(err)
		}
		if e != nil {
			gotEnd = e
			break
		}
		if len(cs) > Batch || len(fds) != len(cs) {
			t.Fatalf("a batch of %d connections with %d descriptors", len(cs), len(fds))
		}
		for i, fd := range fds {
			sameSocket(t, fd, peers[len(gotConns)+i])
		}
		CloseFDs(fds)
		gotConns = append(gotConns, cs...)
	}
	if !reflect.DeepEqual(gotConns, conns) {
		t.Fatal("the connection states changed on the way")
	}
	if !reflect.DeepEqual(*gotEnd, end) {
		t.Fatalf("end: got %+v, want %+v", *gotEnd, end)
	}
	if err := nc.SendDone(); err != nil {
		t.Fatal(err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("old side: %v", err)
	}
}

func TestHello_ANewProcessOfAnotherVersionIsRefusedBeforeAnythingMoves(t *testing.T) {
	newer := Me("n1")
	newer.Version++
	_, _, err, old := pair(t, Me("n1"), newer)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("new side: %v, want a refusal naming the version", err)
	}
	if old.err == nil || old.c != nil {
		t.Fatalf("old side accepted a peer of another version: %v", old.err)
	}
}

func TestHello_AnOldProcessOfAnotherVersionIsRefusedByTheNew(t *testing.T) {
	c, peer := rawConn(t)
	older := &Conn{uc: peer} // an old process that does not check versions
	refused := make(chan byte, 1)
	go func() {
		_, fds, _ := older.recv(func(byte) any { return nil })
		CloseFDs(fds)
		other := Me("n1")
		other.Version++
		_ = older.send(msgHello, other, nil)
		kind, fds, _ := older.recv(func(byte) any { return nil })
		CloseFDs(fds)
		refused <- kind
	}()
	if _, err := c.offerHello(Me("n1")); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("new side: %v, want it to refuse the old side", err)
	}
	if kind := <-refused; kind != msgRefuse {
		t.Fatalf("the old side got message %d, want a refusal", kind)
	}
}

func TestHello_AProcessOfAnotherNodeIsRefused(t *testing.T) {
	_, _, err, old := pair(t, Me("n1"), Me("n2"))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `"n2"`) {
		t.Fatalf("new side: %v, want a refusal naming the node", err)
	}
	if old.err == nil {
		t.Fatal("old side accepted another node's process")
	}
}

func TestOwner_NamesTheListeningProcessAndStartsNoHandoff(t *testing.T) {
	path := socketPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		uc, err := ln.AcceptUnix()
		if err != nil {
			got <- err
			return
		}
		defer uc.Close()
		_, _, err = Accept(uc, Me("n1"), 10*time.Second)
		got <- err
	}()
	pid, err := Owner(path)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("Owner: %d, %v; want %d", pid, err, os.Getpid())
	}
	if err := <-got; !errors.Is(err, io.EOF) {
		t.Fatalf("Accept of a peer that left before its hello: %v, want io.EOF", err)
	}
}

func TestListen_ReplacesAStaleSocketFileAndOnlyItsUserMayConnect(t *testing.T) {
	path := socketPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil { // a previous process's file
		t.Fatal(err)
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("socket file mode %v: others may connect", fi.Mode())
	}
	_ = ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("closing the listener removed the socket file, which the successor keeps: %v", err)
	}
}

func TestSendConns_RefusesABatchOverTheLimitOrWithoutItsDescriptors(t *testing.T) {
	nc, _, err, old := pair(t, Me("n1"), Me("n1"))
	if err != nil || old.err != nil {
		t.Fatal(err, old.err)
	}
	_ = nc
	big := make([]ConnState, Batch+1)
	fds := make([]int, Batch+1)
	if err := old.c.SendConns(big, fds); err == nil {
		t.Fatal("a batch over Batch was sent")
	}
	if err := old.c.SendConns(big[:2], fds[:1]); err == nil {
		t.Fatal("a batch with a missing descriptor was sent")
	}
	if err := old.c.SendListeners([]ListenerState{{Name: "tcp"}}, nil); err == nil {
		t.Fatal("a listener without its descriptor was sent")
	}
}

// rawConn is one end of a socket pair as a Conn, and the other end.
func rawConn(t testing.TB) (*Conn, *net.UnixConn) {
	t.Helper()
	a, b := socketPair(t)
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		nc, err := net.FileConn(f) // dups fd; the pair's cleanup closes the original
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		return nc.(*net.UnixConn)
	}
	return &Conn{uc: conv(a)}, conv(b)
}

func TestRecv_AMessageWhoseDescriptorsDoNotMatchItsHeaderIsRefusedAndLeaksNone(t *testing.T) {
	c, peer := rawConn(t)
	s, _ := socketPair(t)
	before := openFDs(t)
	// The header announces two descriptors; one comes.
	hdr := []byte{msgConns, 0, 0, 0, 2, 0, 0, 0, 0}
	if _, _, err := peer.WriteMsgUnix(hdr, syscall.UnixRights(s), nil); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := c.RecvConns()
	if err == nil {
		t.Fatal("a message with fewer descriptors than announced was accepted")
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open after the refused message, %d before", after, before)
	}
}

func TestRecv_APayloadAnnouncedLargerThanSentAllocatesOnlyWhatArrives(t *testing.T) {
	c, peer := rawConn(t)
	hdr := []byte{msgEnd, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0xff} // just under the 1 GiB limit
	if _, err := peer.Write(append(hdr, "short"...)); err != nil {
		t.Fatal(err)
	}
	_ = peer.CloseWrite()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	_, _, _, err := c.RecvConns()
	runtime.ReadMemStats(&ms1)
	if err == nil {
		t.Fatal("a truncated payload was accepted")
	}
	if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > 64<<20 {
		t.Fatalf("receiving 5 bytes of an announced 1 GiB allocated %d MiB", grew>>20)
	}
}

// FuzzRecv feeds arbitrary bytes to the receiving side: it must return a
// message or an error, never panic or hang.
func FuzzRecv(f *testing.F) {
	for _, seed := range seeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, peer := rawConn(t)
		go func() {
			_, _ = peer.Write(b)
			_ = peer.CloseWrite()
		}()
		_ = c.uc.SetDeadline(time.Now().Add(5 * time.Second))
		for range 4 {
			cs, fds, _, err := c.RecvConns()
			CloseFDs(fds)
			if err != nil {
				return
			}
			if len(fds) != len(cs) {
				t.Fatalf("%d connections with %d descriptors", len(cs), len(fds))
			}
		}
	})
}

// seeds are valid messages as they appear on the socket.
func seeds(f *testing.F) [][]byte {
	c, peer := rawConn(f)
	var out [][]byte
	msgs := []func() error{
		func() error { return c.SendConns(nil, nil) },
		func() error { return c.send(msgConns, []ConnState{{ID: "a", Open: true, In: []byte{1}}}, nil) },
		func() error { return c.SendEnd(End{Acks: []route.Ack{{UserID: 1, DeviceID: "d", Version: 2}}}) },
		func() error { return c.send(msgHello, Me("n1"), nil) },
		func() error { return c.SendDone() },
	}
	for _, send := range msgs {
		done := make(chan error, 1)
		go func() { done <- send() }()
		_ = peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := peer.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		<-done
		if len(got) > 0 {
			out = append(out, got)
		}
	}
	return out
}
