package push

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// The descriptor audit checks, in tests and when TETHER_PUSH_FD_AUDIT is
// set, that a connection's descriptor number still names the socket it was
// accepted with whenever the node is about to use it: before each write and
// before netpoll closes it (onClosed runs first). A number closed by someone
// who did not own it, and perhaps reused by another socket since, would
// otherwise mean bytes written to, or a close of, another connection: the
// audit refuses the write and records the violation instead. It costs an
// fstat per write, so production leaves it off; the push tests fail on any
// violation (fdaudit_test.go), and the churn drill (churn_test.go) is built
// to provoke one.

// fdAudit is the audit in force, or nil.
var fdAudit atomic.Pointer[fdLedger]

func init() {
	if os.Getenv("TETHER_PUSH_FD_AUDIT") != "" {
		fdAudit.Store(newFDLedger())
	}
}

// errStaleFD refuses a write to a descriptor the connection no longer owns.
var errStaleFD = errors.New("push: descriptor audit: the connection's descriptor names another socket")

// fdLedger is which live connection owns each descriptor number, and the
// socket (inode) the number named when the connection got it.
type fdLedger struct {
	mu         sync.Mutex
	owners     map[int]fdOwner
	violations []string
}

type fdOwner struct {
	c   *conn
	ino uint64
}

func newFDLedger() *fdLedger { return &fdLedger{owners: map[int]fdOwner{}} }

// fdOf returns c's descriptor number, or false if it has none (not a socket of ours).
func fdOf(c *conn) (int, bool) {
	f, ok := c.nc.(interface{ Fd() int })
	if !ok {
		return 0, false
	}
	return f.Fd(), true
}

// inode returns the inode the descriptor number names now.
func inode(fd int) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// own records that c has just been given its descriptor. The number must
// name the socket accepted for c: its peer is the address accept reported
// (a number closed and reused between the accept and now names another).
func (l *fdLedger) own(c *conn) {
	fd, ok := fdOf(c)
	if !ok {
		return
	}
	ino, err := inode(fd)
	var peer string
	if sa, perr := syscall.Getpeername(fd); perr == nil {
		if a := sockaddrAddr(sa); a != nil {
			peer = a.String()
		}
	} // else the client is gone already, which is not the audit's business
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.violate(c, "accept: fd %d is not open: %v", fd, err)
		return
	}
	if want := c.nc.RemoteAddr(); peer != "" && want != nil && peer != want.String() {
		l.violate(c, "accept: fd %d is connected to %s, not to the accepted client %s", fd, peer, want)
	}
	if prev, taken := l.owners[fd]; taken {
		// netpoll closes a connection's number only after onClosed released
		// it, so a live owner means its number was closed by someone else.
		l.violate(c, "accept: fd %d is still conn %s's", fd, prev.c.id)
	}
	l.owners[fd] = fdOwner{c: c, ino: ino}
}

// check reports whether c may use its descriptor for op: the number is c's
// and names the socket it was given.
func (l *fdLedger) check(c *conn, op string) bool {
	fd, ok := fdOf(c)
	if !ok {
		return true
	}
	ino, err := inode(fd)
	l.mu.Lock()
	defer l.mu.Unlock()
	o, owned := l.owners[fd]
	switch {
	case !owned || o.c != c:
		if owned {
			l.violate(c, "%s: fd %d belongs to conn %s", op, fd, o.c.id)
		} else {
			l.violate(c, "%s: fd %d is not in the ledger", op, fd)
		}
		return false
	case err != nil:
		l.violate(c, "%s: fd %d was closed under the connection: %v", op, fd, err)
		return false
	case ino != o.ino:
		l.violate(c, "%s: fd %d names socket %d, not the connection's %d", op, fd, ino, o.ino)
		return false
	}
	return true
}

// release checks c's descriptor once more, before netpoll closes it or a
// hot restart hands it over, and forgets it.
func (l *fdLedger) release(c *conn) {
	fd, ok := fdOf(c)
	if !ok {
		return
	}
	l.check(c, "close")
	l.mu.Lock()
	if o, owned := l.owners[fd]; owned && o.c == c {
		delete(l.owners, fd)
	}
	l.mu.Unlock()
}

// violate records one violation; l.mu is held.
func (l *fdLedger) violate(c *conn, format string, args ...any) {
	msg := fmt.Sprintf("conn %s: ", c.id) + fmt.Sprintf(format, args...)
	l.violations = append(l.violations, msg)
	c.n.log.Error("push: descriptor audit", "violation", msg)
}

// report returns the violations recorded so far.
func (l *fdLedger) report() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.violations...)
}

// auditOwn, auditCheck and auditRelease are the hooks on the connection's
// path; each is one atomic load when the audit is off.
func (c *conn) auditOwn() {
	if l := fdAudit.Load(); l != nil {
		l.own(c)
	}
}

func (c *conn) auditCheck(op string) bool {
	if l := fdAudit.Load(); l != nil {
		return l.check(c, op)
	}
	return true
}

func (c *conn) auditRelease() {
	if l := fdAudit.Load(); l != nil {
		l.release(c)
	}
}
