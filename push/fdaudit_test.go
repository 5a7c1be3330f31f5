package push

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

// auditDescriptors runs the package's tests with the descriptor audit on
// (fdaudit.go) and fails the run if any connection used a descriptor it no
// longer owned, whichever test's node it was.
func auditDescriptors(m *testing.M) int {
	l := newFDLedger()
	fdAudit.Store(l)
	code := m.Run()
	if v := l.report(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: descriptor audit: %d violations, the first:\n", len(v))
		for _, s := range v[:min(len(v), 20)] {
			fmt.Fprintln(os.Stderr, "  ", s)
		}
		return 1
	}
	return code
}

// take removes and returns the violations recorded for connection id, so a
// test that provokes some does not fail the run.
func (l *fdLedger) take(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var mine, rest []string
	for _, v := range l.violations {
		if strings.HasPrefix(v, "conn "+id+":") {
			mine = append(mine, v)
		} else {
			rest = append(rest, v)
		}
	}
	l.violations = rest
	return mine
}

// A descriptor closed under a live connection by someone who did not own
// it, and reused by another socket, is what the churn failures came from.
// The audit must catch the node's next write and refuse it, so the other
// socket's peer receives nothing.
func TestFDAudit_RefusesAWriteToADescriptorNowNamingAnotherSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	cl, _ := e.connect(1, "d")
	c := sessionOf(t, n, 1, "d")
	fd, _ := fdOf(c)

	// Another connection's socket takes the session's number, as after a
	// foreign close and a reuse.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	raw, err := other.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var derr error
	if err := raw.Control(func(s uintptr) { derr = syscall.Dup3(int(s), fd, syscall.O_CLOEXEC) }); err != nil || derr != nil {
		t.Fatalf("dup3: %v %v", err, derr)
	}

	c.send(wire.AppendMessage(nil, 1, []byte(`{"secret":1}`)))
	_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := io.ReadAll(peer); len(b) > 0 {
		t.Fatalf("the other socket's peer got %q (%v): the write went to a descriptor the session no longer owned", b, err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return n.Sessions() == 0 }, "the session with a stolen descriptor closed")
	got := fdAudit.Load().take(c.id)
	if len(got) == 0 || !strings.Contains(got[0], "write: fd") {
		t.Fatalf("violations %q, want the refused write first", got)
	}
	cl.expectClosed()
}
