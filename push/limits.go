package push

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/metrics"
)

// ipLimiter counts open connections per client address and refuses those
// over a limit. IPv6 clients are counted per /64, the smallest prefix a
// subscriber usually gets: counting single IPv6 addresses would let one
// host open unlimited connections from its own prefix.
type ipLimiter struct {
	max    int            // 0: no limit, nothing is counted
	exempt []netip.Prefix // addresses never counted (a local proxy, load balancer, benchmark)

	mu    sync.Mutex
	count map[netip.Addr]int32
}

func newIPLimiter(max int, exempt []netip.Prefix) *ipLimiter {
	return &ipLimiter{max: max, exempt: exempt, count: map[netip.Addr]int32{}}
}

// key returns the counting key of a remote address, or false if connections
// from it are not counted.
func (l *ipLimiter) key(a net.Addr) (netip.Addr, bool) {
	if l.max <= 0 || a == nil {
		return netip.Addr{}, false
	}
	var ip netip.Addr
	switch t := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(t.IP)
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false // e.g. a Unix socket: no address to count
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// acquire counts one more connection from k unless k is at the limit.
func (l *ipLimiter) acquire(k netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if int(l.count[k]) >= l.max {
		return false
	}
	l.count[k]++
	return true
}

// release undoes one acquire of k; the entry goes when its count reaches
// zero, so the map holds only addresses with open connections.
func (l *ipLimiter) release(k netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.count[k] - 1; n > 0 {
		l.count[k] = n
	} else {
		delete(l.count, k)
	}
}

// held returns the number of connections counted for all addresses.
func (l *ipLimiter) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := 0
	for _, n := range l.count {
		t += int(n)
	}
	return t
}

// accepted runs once for every new connection, before any of its input is
// read: it counts the connection as in handshake and applies the per-IP
// limit. A connection over the limit gets Error(too_many_connections) and
// is closed without costing a handshake.
func (n *Node) accepted(c *conn) {
	n.handshakes.Add(1)
	k, ok := n.ipLimit.key(c.nc.RemoteAddr())
	if !ok {
		return
	}
	if !n.ipLimit.acquire(k) {
		n.m.Observe(metrics.LayerPush, "too_many_connections", 0, metrics.ClientError(errIPLimit), 0)
		c.fail(wire.CodeTooManyConnections, "too many connections from this address")
		return
	}
	c.ipCounted = true
}

// released runs once when a connection has closed and undoes accepted.
func (n *Node) released(c *conn) {
	if c.state.Load() == stateHandshake {
		n.handshakes.Add(-1)
	}
	if c.ipCounted {
		if k, ok := n.ipLimit.key(c.nc.RemoteAddr()); ok {
			n.ipLimit.release(k)
		}
	}
}

var errIPLimit = errors.New("push: too many connections from one address")
