package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push/client"
)

// chatEchoTimeout bounds how long chat waits, after its input ends, for the
// messages it sent to come back over push or sync.
const chatEchoTimeout = 30 * time.Second

// maxCachedNames bounds the user id <-> name cache of a chat session: a
// session talks to a handful of people, but a long one may hear from many.
const maxCachedNames = 1024

// chatContent is the content of a text message: plain {"text": "..."}.
// Who sent it is the message's authenticated sender_id, resolved to a name
// over REST; content never carries identity.
type chatContent struct {
	Text string `json:"text"`
}

// chat is one `tether chat` session: it reads commands from in and prints
// every timeline entry to out as "[v12] alice -> bob: hello there".
type chat struct {
	cfg  config.ChatConfig
	cli  *client.Client
	api  *client.API
	out  io.Writer
	outM sync.Mutex
	log  *slog.Logger

	to      string // default recipient
	mu      sync.Mutex
	names   map[int64]string // user id -> username (at most maxCachedNames)
	ids     map[string]int64 // lowercased username -> user id, same entries as names
	pending map[int64]bool   // ids of sent messages not yet printed
	echoed  chan struct{}    // signalled when pending shrinks
}

// runChat runs a chat session until in ends (and lingering is over) or ctx ends.
func runChat(ctx context.Context, cfg config.ChatConfig, in io.Reader, out io.Writer, log *slog.Logger) error {
	c := &chat{
		cfg: cfg, out: out, log: log, to: cfg.To,
		api:     client.NewAPI(cfg.APIBase, &http.Client{Timeout: 30 * time.Second}),
		names:   map[int64]string{},
		ids:     map[string]int64{},
		pending: map[int64]bool{},
		echoed:  make(chan struct{}, 1),
	}
	if _, err := c.api.Register(ctx, cfg.User, cfg.Password); err != nil && client.ErrorCode(err) != tether.ECONFLICT {
		return fmt.Errorf("register %s: %w", cfg.User, err)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	entries := make(chan tether.Entry, 256)
	c.cli = client.New(client.Config{
		APIBase:  cfg.APIBase,
		PushAddr: cfg.PushAddr,
		Username: cfg.User,
		Password: cfg.Password,
		DeviceID: cfg.DeviceID,
		Platform: "desktop",
		Logger:   log,
		// The handler only queues: printing may need a name lookup over
		// REST, which must not stall the push connection.
		Handler: func(e tether.Entry) {
			select {
			case entries <- e:
			case <-runCtx.Done():
			}
		},
	})
	if _, err := c.cli.AccessToken(ctx); err != nil {
		if client.ErrorCode(err) == tether.EUNAUTHORIZED {
			return fmt.Errorf("log in as %s: wrong password (the account exists already)", cfg.User)
		}
		return fmt.Errorf("log in as %s: %w", cfg.User, err)
	}
	c.remember(c.cli.UserID(), cfg.User)

	runErr := make(chan error, 1)
	go func() { runErr <- c.cli.Run(runCtx) }()
	runExited := false
	printDone := make(chan struct{})
	go func() {
		defer close(printDone)
		for {
			select {
			case e := <-entries:
				c.print(runCtx, e)
			case <-runCtx.Done():
				return
			}
		}
	}()
	// Both goroutines end with runCtx; wait for them on every return path.
	defer func() {
		stopRun()
		<-printDone
		if !runExited {
			<-runErr
		}
	}()

	c.say("connected as %s; type \"name: text\" to send, /to name to set a default recipient, /help for more", cfg.User)
	lines := readLines(in)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-runErr:
			runExited = true
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("push connection: %w", err)
		case line, ok := <-lines:
			if !ok {
				return c.finish(ctx)
			}
			if quit := c.handle(ctx, line); quit {
				return c.finish(ctx)
			}
		}
	}
}

// readLines feeds the lines of in to a channel closed at the end of input.
// The goroutine cannot be interrupted while it blocks reading a terminal; it
// ends with the input or with the process.
func readLines(in io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), tether.MaxContentBytes)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// handle runs one input line; it returns true for /quit.
func (c *chat) handle(ctx context.Context, line string) (quit bool) {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return false
	case line == "/quit" || line == "/exit":
		return true
	case line == "/help":
		c.say("commands: \"name: text\" sends text to name; other lines go to the default recipient, set with /to name; " +
			"/say text sends text to the default recipient as it is, even \"Note: at 3\"; /quit exits")
		return false
	case line == "/say" || strings.HasPrefix(line, "/say "):
		// A line starting with "word:" would go to a user named word; /say
		// is how such a line reaches the default recipient.
		text := strings.TrimSpace(strings.TrimPrefix(line, "/say"))
		switch {
		case text == "":
			c.say("usage: /say text (sent to the default recipient as it is)")
		case c.to == "":
			c.say("no recipient: set one with /to name")
		default:
			c.send(ctx, c.to, text)
		}
		return false
	case line == "/to" || strings.HasPrefix(line, "/to "):
		name := strings.TrimSpace(strings.TrimPrefix(line, "/to"))
		if name == "" {
			c.say("usage: /to name")
			return false
		}
		if _, err := c.lookup(ctx, name); err != nil {
			c.say("%v", err)
			return false
		}
		c.to = name
		c.say("now sending to %s", name)
		return false
	case strings.HasPrefix(line, "/"):
		c.say("unknown command %s (try /help)", strings.Fields(line)[0])
		return false
	}
	to, text := c.to, line
	if name, rest, ok := strings.Cut(line, ":"); ok && isUsername(name) {
		to, text = name, strings.TrimSpace(rest)
	}
	if to == "" {
		c.say("no recipient: write \"name: text\" or set one with /to name")
		return false
	}
	if text == "" {
		return false
	}
	c.send(ctx, to, text)
	return false
}

// isUsername tells "bob: hi" (a recipient prefix) from "note: ..." typed to
// the default recipient only by shape; an unknown name is reported on send.
func isUsername(s string) bool {
	if len(s) < tether.MinUsernameLen || len(s) > tether.MaxUsernameLen {
		return false
	}
	return !strings.ContainsAny(s, " \t")
}

func (c *chat) send(ctx context.Context, to, text string) {
	rid, err := c.lookup(ctx, to)
	if err != nil {
		c.say("%v", err)
		return
	}
	content, err := json.Marshal(chatContent{Text: text})
	if err != nil {
		c.say("cannot encode message: %v", err)
		return
	}
	if len(content) > tether.MaxContentBytes {
		c.say("message too long (at most %d bytes)", tether.MaxContentBytes)
		return
	}
	msg, _, err := c.cli.Send(ctx, rid, uuid.NewString(), tether.MessageText, content)
	if err != nil {
		if ctx.Err() == nil {
			c.say("send to %s failed: %v", to, err)
		}
		return
	}
	// The echo may have been printed before Send returned.
	c.mu.Lock()
	if !c.printed(msg.ID) {
		c.pending[msg.ID] = true
	}
	c.mu.Unlock()
}

// printed reports whether a message was already printed; c.mu must be held.
// The echo of a message can arrive before Send returns, so print records
// the ids it saw for messages this session sent.
func (c *chat) printed(id int64) bool {
	if c.pending[-id] {
		delete(c.pending, -id)
		return true
	}
	return false
}

// lookup returns the id of a username, asking the API once per name while
// it stays cached. Usernames are case-insensitive.
func (c *chat) lookup(ctx context.Context, name string) (int64, error) {
	c.mu.Lock()
	id, ok := c.ids[strings.ToLower(name)]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	tok, err := c.cli.AccessToken(ctx)
	if err != nil {
		return 0, fmt.Errorf("look up %s: %w", name, err)
	}
	u, err := c.api.UserByName(ctx, tok, name)
	if client.ErrorCode(err) == tether.ENOTFOUND {
		return 0, fmt.Errorf("no user named %s (they appear once they have run tether chat)", name)
	}
	if err != nil {
		return 0, fmt.Errorf("look up %s: %w", name, err)
	}
	c.remember(u.ID, u.Username)
	return u.ID, nil
}

// remember caches the name of an account, evicting an arbitrary entry when
// the cache is full (the session's own account is never looked up).
func (c *chat) remember(id int64, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.names[id]; !ok && len(c.names) >= maxCachedNames {
		for old, oldName := range c.names {
			delete(c.names, old)
			delete(c.ids, strings.ToLower(oldName))
			break
		}
	}
	c.names[id], c.ids[strings.ToLower(name)] = name, id
}

// name returns the username of an account id, asking the API (GET
// /v1/users/{id}) once per id while it stays cached. An id that cannot be
// resolved now prints as user#id and is asked again next time, so a
// passing API error does not stick.
func (c *chat) name(ctx context.Context, id int64) string {
	if id == c.cli.UserID() {
		return c.cfg.User
	}
	c.mu.Lock()
	n, ok := c.names[id]
	c.mu.Unlock()
	if ok {
		return n
	}
	tok, err := c.cli.AccessToken(ctx)
	if err == nil {
		var u *tether.User
		if u, err = c.api.User(ctx, tok, id); err == nil {
			c.remember(u.ID, u.Username)
			return u.Username
		}
	}
	if ctx.Err() == nil {
		c.log.Warn("chat: cannot resolve user name", "user_id", id, "err", err)
	}
	return fmt.Sprintf("user#%d", id)
}

// maxPushShown bounds the payload a persisted push prints with (4 KiB at most).
const maxPushShown = 200

// describe is the one-line text of an entry that is not a message.
func (c *chat) describe(ctx context.Context, e tether.Entry) string {
	switch e.Kind {
	case tether.EntryRecall:
		var ev tether.RecallEvent
		if json.Unmarshal(e.Event, &ev) == nil && ev.MessageID > 0 {
			return fmt.Sprintf("%s recalled message %d", c.name(ctx, ev.SenderID), ev.MessageID)
		}
	case tether.EntryPush:
		var ev struct {
			PushID  string          `json:"push_id"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(e.Event, &ev) == nil && ev.PushID != "" {
			if len(ev.Payload) == 0 { // collapsed by a newer push
				return "push " + ev.PushID
			}
			payload := oneLine(string(ev.Payload))
			if len(payload) > maxPushShown {
				payload = payload[:maxPushShown] + "..."
			}
			return fmt.Sprintf("push %s: %s", ev.PushID, payload)
		}
	case tether.EntryRead:
		var ev tether.ReadEvent
		if json.Unmarshal(e.Event, &ev) == nil && ev.MessageID > 0 {
			return fmt.Sprintf("%s read up to message %d", c.name(ctx, ev.ReaderID), ev.MessageID)
		}
	}
	return "(" + e.Kind + ")"
}

// print writes one entry and settles the echo of a message this session sent.
func (c *chat) print(ctx context.Context, e tether.Entry) {
	if e.Kind != tether.EntryMessage || e.Message == nil {
		c.write(fmt.Sprintf("[v%d] %s", e.Version, c.describe(ctx, e)))
		return
	}
	m := e.Message
	var body chatContent
	text := "(" + m.Type + ")"
	if m.Type == tether.MessageText && json.Unmarshal(m.Content, &body) == nil && body.Text != "" {
		text = body.Text
	}
	from := c.name(ctx, m.SenderID)
	to := c.name(ctx, m.RecipientID)
	c.write(fmt.Sprintf("[v%d] %s -> %s: %s", e.Version, from, to, oneLine(text)))

	if m.SenderID == c.cli.UserID() {
		c.mu.Lock()
		if c.pending[m.ID] {
			delete(c.pending, m.ID)
		} else {
			// Sent by this session but Send has not returned yet, or sent
			// by another session of the user: remember it was printed.
			c.pending[-m.ID] = true
		}
		c.mu.Unlock()
		select {
		case c.echoed <- struct{}{}:
		default:
		}
	}
}

// oneLine keeps a received text from forging extra output lines.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// finish waits for the echoes of sent messages, then lingers.
func (c *chat) finish(ctx context.Context) error {
	deadline := time.NewTimer(chatEchoTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		waiting := 0
		for id := range c.pending {
			if id > 0 {
				waiting++
			}
		}
		c.mu.Unlock()
		if waiting == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.echoed:
		case <-deadline.C:
			return fmt.Errorf("%d sent message(s) were stored but did not come back within %s; they will arrive on the next sync", waiting, chatEchoTimeout)
		}
	}
	if c.cfg.Linger > 0 {
		t := time.NewTimer(c.cfg.Linger)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return nil
}

// say prints a status line, marked so it is not mistaken for a message.
func (c *chat) say(format string, args ...any) {
	c.write("* " + fmt.Sprintf(format, args...))
}

func (c *chat) write(line string) {
	c.outM.Lock()
	defer c.outM.Unlock()
	if _, err := io.WriteString(c.out, line+"\n"); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		c.log.Debug("chat: write failed", "err", err)
	}
}
