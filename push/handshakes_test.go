package push

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetherim/tether/push/wire"
	"github.com/tetherim/tether/shared/token"
)

type testReq struct{ done chan struct{} }

func TestHandshakes_BatchHoldsWhatQueuedWhileThePreviousRan(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	var sizes []int // written by the batcher's goroutine only
	b := batcher[testReq]{run: func(_ *Node, rs []*testReq) {
		sizes = append(sizes, len(rs))
		if len(sizes) == 1 {
			close(started)
			<-release // the first batch is "in Redis" while the others queue
		}
		for _, r := range rs {
			close(r.done)
		}
	}}
	var wg sync.WaitGroup
	do := func() {
		defer wg.Done()
		r := &testReq{done: make(chan struct{})}
		b.do(nil, r, r.done)
	}
	wg.Add(1)
	go do()
	<-started
	const waiting = 40
	for range waiting {
		wg.Add(1)
		go do()
	}
	for queued := 0; queued < waiting; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		queued = len(b.queue)
		b.mu.Unlock()
	}
	close(release)
	wg.Wait() // every request's batch ran
	for running := true; running; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		running = b.running
		b.mu.Unlock()
	}
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != waiting {
		t.Fatalf("batch sizes %v, want [1 %d]: the requests that queued meanwhile go in one batch", sizes, waiting)
	}
}

func TestHandshakes_ConcurrentHandshakesRegisterAndRevokedOnesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	n := e.start()
	ctx := context.Background()
	if err := e.rdb.Set(ctx, e.reg.Keys().Revoked("revoked"), "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	const clients = 120
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := int64(500 + i)
			session := "s" + strconv.Itoa(i)
			if i%10 == 0 {
				session = "revoked"
			}
			tok, _, err := e.signer.Sign(token.Claims{UserID: uid, DeviceID: "d", Platform: "ios", SessionID: session})
			if err != nil {
				errs <- err
				return
			}
			c := e.dial()
			_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.nc.Write(wire.AppendHello(nil, wire.Hello{Version: 1, Token: tok, DeviceID: "d", AppVersion: "t/1"})); err != nil {
				errs <- err
				return
			}
			f, err := c.next(10 * time.Second)
			want := wire.TypeWelcome
			if session == "revoked" {
				want = wire.TypeError
			}
			switch {
			case err != nil:
				errs <- err
			case f.Type != want:
				errs <- &frameErr{uid, f}
			case want == wire.TypeError && f.Reason.Code != wire.CodeRevoked:
				errs <- &frameErr{uid, f}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := n.Sessions(), clients-clients/10; got != want {
		t.Fatalf("sessions = %d, want %d", got, want)
	}
	uids := make([]int64, 0, clients)
	for i := range clients {
		uids = append(uids, int64(500+i))
	}
	live, err := e.reg.Lookup(ctx, uids)
	if err != nil {
		t.Fatal(err)
	}
	for i, uid := range uids {
		if got, want := len(live[uid]), 1; i%10 == 0 {
			if got != 0 {
				t.Errorf("uid %d (revoked) has a route", uid)
			}
		} else if got != want {
			t.Errorf("uid %d: %d routes, want %d", uid, got, want)
		}
	}
}

type frameErr struct {
	uid int64
	f   wire.Frame
}

func (e *frameErr) Error() string {
	return "uid " + strconv.FormatInt(e.uid, 10) + ": got " + e.f.Type.String() + " " + e.f.Reason.Code.String()
}
