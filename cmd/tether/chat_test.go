package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/push/client"
)

// The name cache stays bounded however many senders a session hears from,
// and its two directions stay in step.
func TestChatNameCache_IsBoundedAndConsistent(t *testing.T) {
	c := &chat{names: map[int64]string{}, ids: map[string]int64{}}
	for i := int64(1); i <= maxCachedNames+50; i++ {
		c.remember(i, fmt.Sprintf("User%d", i))
	}
	if len(c.names) != maxCachedNames || len(c.ids) != maxCachedNames {
		t.Fatalf("cache holds %d names and %d ids, want %d each", len(c.names), len(c.ids), maxCachedNames)
	}
	for id, name := range c.names {
		if c.ids[strings.ToLower(name)] != id {
			t.Fatalf("names[%d] = %q but ids has %d", id, name, c.ids[strings.ToLower(name)])
		}
	}
	// Remembering a cached id again evicts nothing.
	for id, name := range c.names {
		c.remember(id, name)
		break
	}
	if len(c.names) != maxCachedNames {
		t.Fatalf("re-remembering evicted: %d names", len(c.names))
	}
}

// A line whose first word ends in a colon goes to the user so named; /say
// sends any text, colon and all, to the default recipient.
func TestChat_SaySendsTextWithAColonToTheDefaultRecipient(t *testing.T) {
	t.Parallel()
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := client.NewAPI("http://"+d.HTTPAddr, nil).Register(ctx, "frank", config.DevPassword); err != nil {
		t.Fatal(err)
	}
	in := "/say nobody to send to yet\n/to frank\nNote: meeting at 3\n/say Note: meeting at 3\n/say\n/help\n"
	code, out, stderr := runCmd(ctx, strings.NewReader(in), chatArgs(d, "gina")...)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, want := range []string{
		"no recipient: set one with /to name",
		"no user named Note",
		"[v1] gina -> frank: Note: meeting at 3\n",
		"usage: /say text",
		"/say text sends text to the default recipient",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[v2]") {
		t.Errorf("more than one message was sent:\n%s", out)
	}
}
