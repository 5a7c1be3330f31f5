package push

import (
	"context"
	"reflect"
	"sync"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/cloudwego/netpoll"
)

// Memory per connection (docs/memory.md has the measurements).
//
// A node holds hundreds of thousands of mostly idle connections, so what an
// idle connection keeps is what the node costs. By default netpoll gives
// every connection an 8 KiB read buffer and, after its first write, a 4 KiB
// write buffer, and keeps both for the connection's life: 12 KiB of the
// ~15 KiB an idle session cost. Client frames are small (a Hello with its
// token is under 1 KiB, pings and acks are a few bytes) and server writes
// are batched per connection, so small buffers lose nothing: netpoll grows
// a read buffer as soon as a read fills it, and a write buffer is sized by
// the write. What an idle connection keeps is then one read buffer of
// readBufferSize (or the largest frame it sent) and a write buffer of the
// last write rounded to a power of two (most often a Pong: minBufferNode).
//
// netpoll also gives every connection, for its whole life, a "barrier": the
// iovec scratch of its sendmsg, sized for 32 buffers (1.3 KiB). A node's
// write is one buffer, so barrierSlots is plenty; a longer output is sent
// in several sendmsg calls, which netpoll already does when a socket is
// full. netpoll has no setting for it, so shrinkBarriers replaces the
// constructor of its barrier pool, after checking that the pool and the
// barrier type are exactly the ones this was written against (netpoll
// v0.7.2); with any other layout it leaves netpoll alone.
const (
	// readBufferSize is netpoll's initial read buffer per connection:
	// one Hello fits.
	readBufferSize = 1 << 9
	// minBufferNode is the smallest buffer netpoll allocates for a
	// connection (netpoll.LinkBufferCap, 4 KiB by default).
	minBufferNode = 1 << 6
)

// barrierSlots is the number of buffers one sendmsg of a connection sends.
const barrierSlots = 4

// The sizes are netpoll globals that are read whenever a connection or a
// buffer is made, so they are set once, before any node exists, not by New.
func init() {
	netpoll.LinkBufferCap = minBufferNode
	// Configure's zero fields keep netpoll's defaults (pollers, round-robin
	// balancing, copying reads).
	if err := netpoll.Configure(netpoll.Config{BufferSize: readBufferSize}); err != nil {
		panic("push: netpoll.Configure: " + err.Error())
	}
	barriersShrunk = shrinkBarriers(&netpollBarriers, barrierSlots)
}

// netpollBarriers is netpoll's pool of per-connection sendmsg scratch.
//
//go:linkname netpollBarriers github.com/cloudwego/netpoll.barrierPool
var netpollBarriers sync.Pool

// barriersShrunk says whether shrinkBarriers took effect (tests check it,
// so a netpoll upgrade that changes the layout is noticed).
var barriersShrunk bool

// barrierLayout must match netpoll's barrier struct; shrinkBarriers checks
// it field by field before using it.
type barrierLayout struct {
	bs  [][]byte
	ivs []syscall.Iovec
}

// shrinkBarriers makes pool's New return barriers with the given number of
// slots, if the barriers it returns have barrierLayout. It reports whether
// it did.
func shrinkBarriers(pool *sync.Pool, slots int) bool {
	if pool.New == nil {
		return false
	}
	probe := reflect.TypeOf(pool.New())
	if probe == nil || probe.Kind() != reflect.Pointer || probe.Elem().Kind() != reflect.Struct {
		return false
	}
	t, want := probe.Elem(), reflect.TypeFor[barrierLayout]()
	if t.Size() != want.Size() || t.NumField() != want.NumField() {
		return false
	}
	for i := range want.NumField() {
		f, w := t.Field(i), want.Field(i)
		if f.Name != w.Name || f.Type != w.Type || f.Offset != w.Offset {
			return false
		}
	}
	pool.New = func() any {
		b := reflect.New(t) // netpoll's own type, so its type assertion holds
		l := (*barrierLayout)(b.UnsafePointer())
		l.bs, l.ivs = make([][]byte, slots), make([]syscall.Iovec, slots)
		return b.Interface()
	}
	return true
}

// writeBufs recycles connections' output queues (conn.buf): a connection
// takes a buffer when it queues a frame and gives it back as soon as the
// buffer is written, so an idle connection holds none, and a node writing
// to many connections at once (a broadcast) reuses a few.
var writeBufs sync.Pool

// minWriteBuf is the capacity of a fresh output queue: a Welcome or a few
// small frames.
const minWriteBuf = 256

// getWriteBuf returns an empty buffer for an output queue.
func getWriteBuf() []byte {
	if p, ok := writeBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, minWriteBuf)
}

// putWriteBuf recycles b unless it is too big to keep around: a burst
// must not pin memory once it is over.
func putWriteBuf(b []byte) {
	if cap(b) < minWriteBuf || cap(b) > maxSpare {
		return
	}
	b = b[:0]
	writeBufs.Put(&b)
}

// releaseWriteBufs gives an empty output queue's buffer back to the pool.
// c.mu must be held.
func (c *conn) releaseWriteBufs() {
	if c.buf != nil && len(c.buf) == 0 {
		putWriteBuf(c.buf)
		c.buf = nil
	}
}

// connContext is the context netpoll keeps for a connection and hands to
// onRequest: the conn itself seen as a context.Context (never done, no
// deadline) whose one value is the conn under connKey, so that accepting a
// connection allocates no context object.
type connContext conn

// context returns c as the context of its netpoll connection.
func (c *conn) context() context.Context { return (*connContext)(c) }

func (*connContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*connContext) Done() <-chan struct{}       { return nil }
func (*connContext) Err() error                  { return nil }

func (x *connContext) Value(key any) any {
	if _, ok := key.(connKey); ok {
		return (*conn)(x)
	}
	return nil
}
