package drill

// The load: online users who each send 1:1 and group messages over REST
// at a modest rate, one at a time (so that the order a sender's messages
// were accepted in is the order every timeline must show them in). A send
// that fails (a network error, a timeout, 5xx, 429) is retried with the
// same client message id, on the other API after each failure, for up to
// a minute: the retry must be safe, i.e. store the message once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
	"github.com/tetherim/tether/shared/token"
)

// sendRec is one message the drill sent, and how it went.
type sendRec struct {
	phase    int
	sender   *user
	to       int64 // 1:1 recipient
	group    int64
	cmid     string
	started  time.Time
	accepted time.Time // zero: never accepted
	msgID    int64
	failures []string // the failed attempts: status or error kind
	retried  bool     // accepted after a failure
	dupReply bool     // the accepting attempt answered 200: an earlier one had stored it
	refused  string   // a non-retryable answer
}

// load runs the senders.
type load struct {
	users  []*user
	byID   map[int64]*user
	groups map[int64][]int64 // group -> members
	apis   []string
	http   *http.Client
	rate   float64 // messages per second, all senders together

	phase   atomic.Int64
	sending atomic.Bool
	inLoop  sync.WaitGroup
	flight  atomic.Int64

	mu    sync.Mutex
	sends []*sendRec
	seq   map[int64]int
}

// setupUsers creates n users (one registered over REST, the rest inserted
// as loadgen does for its big runs) with access tokens minted by the
// cluster's key, and groups of groupSize that the users create over REST.
func setupUsers(ctx context.Context, c *cluster, n, groupSize int, hc *http.Client) ([]*user, map[int64][]int64, error) {
	run := runID() // a target's database may hold earlier drills' users
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("drill%s-u%d", run, i)
	}
	ids, err := loadgen.InsertUsers(ctx, c.apis[0].url, c.dsn, "drill"+run+"-tmpl", names)
	if err != nil {
		return nil, nil, err
	}
	signer := token.NewSigner(c.key, 4*time.Hour)
	users := make([]*user, n)
	for i, id := range ids {
		tok, _, err := signer.Sign(token.Claims{UserID: id, DeviceID: "drill-" + names[i], Platform: "desktop", SessionID: fmt.Sprintf("drill-s%d", id)})
		if err != nil {
			return nil, nil, err
		}
		users[i] = newUser(id, names[i], tok)
	}
	groups := map[int64][]int64{}
	for from := 0; groupSize > 1 && from+groupSize <= n; from += groupSize {
		members := users[from : from+groupSize]
		var others []int64
		for _, m := range members[1:] {
			others = append(others, m.id)
		}
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("drill group %d", from/groupSize+1), "member_ids": others})
		var g struct {
			ID int64 `json:"id"`
		}
		if status, err := postJSON(ctx, hc, c.apis[0].url+"/v1/groups", members[0].token, body, &g); err != nil || status != http.StatusCreated {
			return nil, nil, fmt.Errorf("drill: create group: %d %v", status, err)
		}
		for _, m := range members {
			m.groups[g.ID] = true
			groups[g.ID] = append(groups[g.ID], m.id)
		}
	}
	return users, groups, nil
}

func newLoad(users []*user, groups map[int64][]int64, apis []string, rate float64, hc *http.Client) *load {
	l := &load{users: users, byID: map[int64]*user{}, groups: groups, apis: apis, http: hc, rate: rate, seq: map[int64]int{}}
	for _, u := range users {
		l.byID[u.id] = u
	}
	return l
}

// run starts every sender; they send while sending is on, until ctx ends.
func (l *load) run(ctx context.Context) {
	each := float64(len(l.users)) / l.rate // mean seconds between one sender's messages
	for _, u := range l.users {
		l.inLoop.Add(1)
		go func() {
			defer l.inLoop.Done()
			rng := rand.New(rand.NewPCG(uint64(u.id), uint64(time.Now().UnixNano())))
			for {
				wait := time.Duration(rng.ExpFloat64() * each * float64(time.Second))
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				if !l.sending.Load() {
					continue
				}
				l.flight.Add(1)
				l.send(ctx, u, rng)
				l.flight.Add(-1)
			}
		}()
	}
}

// pause stops new sends and waits (up to bound) until none is in flight.
func (l *load) pause(ctx context.Context, bound time.Duration) error {
	l.sending.Store(false)
	deadline := time.Now().Add(bound)
	for l.flight.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("drill: %d sends still in flight after %s", l.flight.Load(), bound)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// send sends one message from u and retries it until it is accepted,
// refused, or a minute has passed.
func (l *load) send(ctx context.Context, u *user, rng *rand.Rand) {
	r := &sendRec{phase: int(l.phase.Load()), sender: u, started: time.Now()}
	var groups []int64
	for g := range u.groups {
		groups = append(groups, g)
	}
	body := map[string]any{"type": "text"}
	if len(groups) > 0 && rng.IntN(4) == 0 {
		r.group = groups[rng.IntN(len(groups))]
		body["group_id"] = r.group
	} else {
		for {
			peer := l.users[rng.IntN(len(l.users))]
			if peer != u {
				r.to = peer.id
				break
			}
		}
		body["recipient_id"] = r.to
	}
	l.mu.Lock()
	l.seq[u.id]++
	r.cmid = fmt.Sprintf("p%d-%d", r.phase, l.seq[u.id])
	l.mu.Unlock()
	body["client_msg_id"] = r.cmid
	body["content"] = map[string]any{"text": "drill " + r.cmid}
	raw, _ := json.Marshal(body)

	deadline := time.Now().Add(time.Minute)
	api := int(u.id) % len(l.apis)
	for try := 0; ; try++ {
		var m struct {
			ID int64 `json:"id"`
		}
		status, err := postJSON(ctx, l.http, l.apis[api]+"/v1/messages", u.token, raw, &m)
		switch {
		case err == nil && (status == http.StatusCreated || status == http.StatusOK) && m.ID > 0:
			r.accepted, r.msgID = time.Now(), m.ID
			r.retried = try > 0
			r.dupReply = status == http.StatusOK
		case err == nil && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests && status < 500:
			r.refused = fmt.Sprintf("%d", status)
		default:
			r.failures = append(r.failures, failureKind(status, err))
			if time.Now().Before(deadline) && ctx.Err() == nil {
				api = (api + 1) % len(l.apis)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(min(try+1, 10)) * time.Duration(50+rng.IntN(100)) * time.Millisecond):
				}
				continue
			}
		}
		break
	}
	l.mu.Lock()
	l.sends = append(l.sends, r)
	l.mu.Unlock()
}

// failureKind names a failed attempt for the report.
func failureKind(status int, err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return strconv.Itoa(status)
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "conn"
	}
}

// postJSON posts body with the bearer token and decodes a 2xx answer into
// out.
func postJSON(ctx context.Context, hc *http.Client, url, tok string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("drill: %s: %w", url, err)
		}
	}
	return resp.StatusCode, nil
}

// recipients are the users whose timelines a send reaches: both sides of
// a 1:1 message, every member of a group.
func (l *load) recipients(r *sendRec) []int64 {
	if r.group != 0 {
		return l.groups[r.group]
	}
	return []int64{r.sender.id, r.to}
}

// records returns the sends so far.
func (l *load) records() []*sendRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*sendRec(nil), l.sends...)
}
