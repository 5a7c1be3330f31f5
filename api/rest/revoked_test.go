package rest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

type fakeRevocations struct {
	revoked map[string]bool
	err     error
	calls   int
}

func (f *fakeRevocations) IsRevoked(_ context.Context, id string) (bool, error) {
	f.calls++
	return f.revoked[id], f.err
}

func TestRevocationCache_RemembersRevokedSessionsAndFailsOpen(t *testing.T) {
	f := &fakeRevocations{revoked: map[string]bool{"gone": true}}
	c := newRevocationCache(f, nil, slog.New(slog.DiscardHandler))
	if !c.isRevoked(t.Context(), "gone") || !c.isRevoked(t.Context(), "gone") {
		t.Fatal("a revoked session was accepted")
	}
	if f.calls != 1 {
		t.Fatalf("revoked session looked up %d times, want once (a revocation never ends)", f.calls)
	}
	if c.isRevoked(t.Context(), "live") || c.isRevoked(t.Context(), "live") || f.calls != 3 {
		t.Fatalf("a live session: calls %d, want a lookup per request (it may be revoked any time)", f.calls)
	}
	// Redis down: tokens are accepted (they still expire), nothing is remembered.
	f.err = errors.New("redis down")
	if c.isRevoked(t.Context(), "other") {
		t.Fatal("a failing checker refused a token")
	}
	// Without a checker every token is accepted.
	if newRevocationCache(nil, nil, slog.New(slog.DiscardHandler)).isRevoked(t.Context(), "gone") {
		t.Fatal("nil checker refused a token")
	}
}
