package main

import (
	"fmt"
	"strings"
	"testing"
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
