package push

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/wire"
)

// writeBufOf reports the capacity of c's output queue.
func writeBufOf(c *conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cap(c.buf)
}

func TestMemory_IdleSessionKeepsNoWriteBufferAfterItsMessagesAreWritten(t *testing.T) {
	t.Parallel()
	eachTransport(t, func(t *testing.T, tr transport) {
		e := newEnv(t, nil).on(tr)
		n := e.start()
		cl, _ := e.connect(1, "d")
		e.push(msgJob("hello", jobTarget(1, 1)), msgJob("again", jobTarget(1, 2)))
		if ms := cl.messages(2); ms[1].Version != 2 {
			t.Fatalf("got versions %s", versions(ms))
		}
		cl.send(wire.AppendPing(nil, []byte("p")))
		if f := cl.read(); f.Type != wire.TypePong {
			t.Fatalf("got %s, want pong", f.Type)
		}
		cs := n.hub.appendSessions(nil, 1, "d")
		if len(cs) != 1 {
			t.Fatalf("%d sessions, want 1", len(cs))
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return writeBufOf(cs[0]) == 0 }, "write buffer released")

		// The next frame takes a buffer again and is written as before.
		e.push(msgJob("third", jobTarget(1, 3)))
		if ms := cl.messages(1); ms[0].Version != 3 {
			t.Fatalf("got versions %s", versions(ms))
		}
	})
}

func TestMemory_WriteBufferPoolKeepsOnlyModestBuffers(t *testing.T) {
	putWriteBuf(make([]byte, 0, maxSpare+1)) // a burst's buffer is dropped
	putWriteBuf(make([]byte, 10))            // too small to be worth keeping
	for range 100 {
		if b := getWriteBuf(); len(b) != 0 || cap(b) < minWriteBuf || cap(b) > maxSpare {
			t.Fatalf("getWriteBuf gave len %d cap %d", len(b), cap(b))
		}
	}
}

func TestMemory_NetpollConnectionsGetSmallBuffers(t *testing.T) {
	if netpoll.LinkBufferCap != minBufferNode {
		t.Fatalf("netpoll.LinkBufferCap = %d, want %d", netpoll.LinkBufferCap, minBufferNode)
	}
	if !barriersShrunk {
		t.Fatal("netpoll's barrier pool was not shrunk: its layout changed (netpoll upgrade?); update memory.go")
	}
	b := netpollBarriers.Get()
	defer netpollBarriers.Put(b)
	v := reflect.ValueOf(b).Elem()
	if bs, ivs := v.FieldByName("bs").Len(), v.FieldByName("ivs").Len(); bs != barrierSlots || ivs != barrierSlots {
		t.Fatalf("a new barrier has %d and %d slots, want %d", bs, ivs, barrierSlots)
	}
}

func TestMemory_ShrinkBarriersLeavesOtherLayoutsAlone(t *testing.T) {
	type other struct{ bs, ivs []byte }
	for name, pool := range map[string]*sync.Pool{
		"no constructor": {},
		"not a pointer":  {New: func() any { return barrierLayout{} }},
		"other fields":   {New: func() any { return &other{} }},
		"nil":            {New: func() any { return nil }},
	} {
		before := pool.New
		if shrinkBarriers(pool, 2) {
			t.Errorf("%s: shrunk", name)
		}
		if (before == nil) != (pool.New == nil) || (before != nil && reflect.ValueOf(before).Pointer() != reflect.ValueOf(pool.New).Pointer()) {
			t.Errorf("%s: constructor replaced", name)
		}
	}
	pool := &sync.Pool{New: func() any { return &barrierLayout{bs: make([][]byte, 32)} }}
	if !shrinkBarriers(pool, 2) {
		t.Fatal("same layout not shrunk")
	}
	if b := pool.New().(*barrierLayout); len(b.bs) != 2 || len(b.ivs) != 2 {
		t.Fatalf("shrunk barrier has %d and %d slots", len(b.bs), len(b.ivs))
	}
}

func TestMemory_LargeWritesPassTheSmallBarrier(t *testing.T) {
	t.Parallel()
	// A frame far over the barrier's slots and the socket buffer is sent
	// in several sendmsg calls; the client must get it whole.
	e := newEnv(t, nil)
	e.start()
	cl, _ := e.connect(1, "d")
	body := strings.Repeat("x", 900<<10)
	e.push(msgJob(body, jobTarget(1, 1)), msgJob("small", jobTarget(1, 2)))
	ms := cl.messages(2)
	if ms[0].Version != 1 || len(ms[0].Body) < len(body) || ms[1].Version != 2 {
		t.Fatalf("got versions %s, first body %d bytes", versions(ms), len(ms[0].Body))
	}
}

func TestMemory_ConnIsItsOwnNetpollContext(t *testing.T) {
	c := &conn{}
	ctx := c.context()
	if got, _ := ctx.Value(connKey{}).(*conn); got != c {
		t.Fatal("the context does not hold its conn")
	}
	if ctx.Value("other") != nil || ctx.Done() != nil || ctx.Err() != nil {
		t.Fatal("the context has values, cancellation or an error")
	}
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("the context has a deadline")
	}
}
