package push

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/push/wire"
)

// netpollLog captures netpoll's log lines (its logger is global).
type netpollLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *netpollLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = os.Stderr.Write(p)
	return l.b.Write(p)
}

func (l *netpollLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// A connection refused in onPrepare (here by the per-IP limit) used to be
// closed by a writer on its own goroutine while netpoll was still
// registering it: netpoll then registered a closed, perhaps reused,
// descriptor number with a freed poller entry (onConnect in conn.go). A
// Close before the registration shows as netpoll failing to detach a
// descriptor its poller never had (ENOENT); -race reports the race on
// FDOperator.FD itself. Without the fix about 9 of 6,400 refusals did it
// (2 cores, no -race) and -race failed on the first few. Not parallel:
// netpoll's logger is global.
func TestLimits_RefusedConnectionsAreClosedOnlyAfterNetpollRegisteredThem(t *testing.T) {
	var log netpollLog
	netpoll.SetLoggerOutput(&log)
	defer netpoll.SetLoggerOutput(os.Stderr)
	e := newEnv(t, func(c *Config) { c.MaxConnsPerIP = 1 })
	n := e.start()
	addr := n.TCPAddr().String()
	e.connect(1, "d") // the one connection 127.0.0.1 may have

	const workers, each = 16, 150
	var refused, other atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					other.Add(1)
					continue
				}
				cl := &tclient{t: t, nc: nc, r: bufio.NewReader(nc)}
				f, err := cl.next(10 * time.Second)
				if err == nil && f.Type == wire.TypeError && f.Reason.Code == wire.CodeTooManyConnections {
					refused.Add(1)
				} else {
					other.Add(1)
				}
				_ = nc.Close()
			}
		}()
	}
	wg.Wait()
	if refused.Load() != workers*each {
		t.Fatalf("%d of %d connections refused with too_many_connections, %d otherwise", refused.Load(), workers*each, other.Load())
	}
	if k := log.count("detach operator failed"); k > 0 {
		t.Fatalf("%d refused connections were closed before netpoll registered them", k)
	}
}
