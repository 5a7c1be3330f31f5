package push

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/token"
)

// BenchmarkBroadcast_LocalSessions measures broadcast deliveries per second
// to N sessions on one node: one op is one broadcast entry handled by the
// node's broadcaster (decoded, encoded once, queued to every session, one
// flush each) and read in full by every client over loopback TCP. The
// clients run in this process too, so the figure includes their reading.
//
//	go test ./push -run '^$' -bench BenchmarkBroadcast_LocalSessions -benchtime 200x
func BenchmarkBroadcast_LocalSessions(b *testing.B) {
	for _, n := range []int{100, 1000, 4000} {
		b.Run("sessions="+strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.HandshakeTimeout = time.Minute })
			node := e.start()
			var pushes atomic.Int64
			var readers sync.WaitGroup
			b.Cleanup(readers.Wait) // the env's cleanup, registered later, closes the sockets first
			clients := make([]*tclient, n)
			var dialers sync.WaitGroup
			errs := make(chan error, n)
			for w := 0; w < 32; w++ { // handshakes in parallel: setup is not measured
				dialers.Add(1)
				go func() {
					defer dialers.Done()
					for i := w; i < n; i += 32 {
						c, err := e.tryConnect(node, int64(i+1), "d", "ios")
						if err != nil {
							errs <- err
							return
						}
						clients[i] = c
					}
				}()
			}
			dialers.Wait()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			for _, c := range clients {
				readers.Add(1)
				go func() { defer readers.Done(); countPushes(c, &pushes) }()
			}
			msgs := []stream.Entry{{ID: "0-1", Job: job.Job{ID: "bench", Kind: job.KindBroadcast, PushID: "bench",
				Body: []byte(`{"text":"bench broadcast"}`), EnqueuedMS: time.Now().UnixMilli()}}}
			// A broadcaster of its own: the node's is owned by its loop.
			bc := newBroadcaster(node)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bc.handle(msgs)
				want := int64(n) * int64(i+1)
				for pushes.Load() < want {
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// tryConnect is connectTo for other goroutines: it returns errors.
func (e *env) tryConnect(n *Node, uid int64, device, platform string) (*tclient, error) {
	nc, err := net.DialTimeout("tcp", n.TCPAddr().String(), 10*time.Second)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { _ = nc.Close() })
	tok, _, err := e.signer.Sign(token.Claims{UserID: uid, DeviceID: device, Platform: platform, SessionID: "s1"})
	if err != nil {
		return nil, err
	}
	c := &tclient{t: e.t, nc: nc, r: bufio.NewReader(nc)}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, Platform: platform, DeviceID: device})); err != nil {
		return nil, err
	}
	f, err := c.next(30 * time.Second)
	if err != nil || f.Type != wire.TypeWelcome {
		return nil, fmt.Errorf("handshake %d: %s %v %v", uid, f.Type, f.Reason, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// countPushes reads frames until the connection ends, counting Push frames.
func countPushes(c *tclient, pushes *atomic.Int64) {
	_ = c.nc.SetReadDeadline(time.Time{})
	r := bufio.NewReaderSize(c.nc, 4096)
	var hdr [wire.HeaderSize]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := int64(binary.BigEndian.Uint32(hdr[1:]))
		if _, err := r.Discard(int(size)); err != nil {
			return
		}
		if wire.Type(hdr[0]) == wire.TypePush {
			pushes.Add(1)
		}
	}
}
