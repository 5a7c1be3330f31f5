package push

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
)

// barrierProbes is how many pollers a pollBarrier covers. netpoll assigns
// connections to pollers round robin and runs GOMAXPROCS/20+1 of them by
// default, so this covers any machine below 300 cores.
const barrierProbes = 16

// pollBarrier lets a hot restart wait until every netpoll poller has
// finished the batch of events it is handling. After a connection is
// detached from its poller (epoll DEL), a poller may still be reading from
// it for an event it received just before; once every poller has handled an
// event that happened after the detach, nothing reads the socket any more
// and its buffered input can be handed over whole.
//
// A probe is a socket pair whose read end sits in the pollers; passing the
// barrier writes one byte to each probe and waits until its OnRequest ran.
// Concurrent callers share rounds: each waits for a round that began after
// it called pass.
type pollBarrier struct {
	probes []barrierProbe

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // rounds begun
	done    uint64 // rounds ended
	running bool
	err     error // of the last round
}

type barrierProbe struct {
	conn netpoll.Connection
	wfd  int
	hit  chan struct{}
}

func newPollBarrier() (*pollBarrier, error) {
	b := &pollBarrier{}
	b.cond = sync.NewCond(&b.mu)
	for range barrierProbes {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("push: barrier socket pair: %w", err)
		}
		p := barrierProbe{wfd: fds[1], hit: make(chan struct{}, 1)}
		nc, err := netpoll.NewFDConnection(fds[0])
		if err != nil {
			_ = syscall.Close(fds[0])
			_ = syscall.Close(fds[1])
			b.close()
			return nil, fmt.Errorf("push: barrier probe: %w", err)
		}
		hit := p.hit
		_ = nc.SetOnRequest(func(_ context.Context, c netpoll.Connection) error {
			r := c.Reader()
			_ = r.Skip(r.Len())
			_ = r.Release()
			select {
			case hit <- struct{}{}:
			default:
			}
			return nil
		})
		p.conn = nc
		b.probes = append(b.probes, p)
	}
	return b, nil
}

// pass returns once every poller finished the event batch it was handling
// when pass was called.
func (b *pollBarrier) pass() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	target := b.started + 1
	for b.done < target {
		if b.running {
			b.cond.Wait()
			continue
		}
		b.running = true
		b.started++
		round := b.started
		b.mu.Unlock()
		err := b.round()
		b.mu.Lock()
		b.running, b.done, b.err = false, round, err
		b.cond.Broadcast()
	}
	return b.err
}

func (b *pollBarrier) round() error {
	for _, p := range b.probes {
		select { // a stale hit from a timed-out round
		case <-p.hit:
		default:
		}
		if _, err := syscall.Write(p.wfd, []byte{1}); err != nil {
			return fmt.Errorf("push: barrier write: %w", err)
		}
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for _, p := range b.probes {
		select {
		case <-p.hit:
		case <-t.C:
			return errors.New("push: pollers did not answer the barrier")
		}
	}
	return nil
}

func (b *pollBarrier) close() {
	for _, p := range b.probes {
		_ = p.conn.Close()
		_ = syscall.Close(p.wfd)
	}
	b.probes = nil
}
