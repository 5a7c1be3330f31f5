package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherim/tether"
)

func TestAPIKey_CreateListRevokeOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	if code, _, stderr := runCmd(ctx, nil, "migrate", "--sqlite", path, "--log-level", "error"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	code, out, stderr := runCmd(ctx, nil, "apikey", "create", "--sqlite", path, "--name", "crm", "--scopes", "push,broadcast", "--rate-limit", "20")
	var k tether.CreatedAPIKey
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || !strings.HasPrefix(k.Secret, "tether_"+k.ID) || len(k.Scopes) != 2 || k.RateLimit != 20 {
		t.Fatalf("create: code %d out %q err %q", code, out, stderr)
	}
	if code, _, stderr := runCmd(ctx, nil, "apikey", "create", "--sqlite", path, "--name", "x", "--scopes", "root"); code != 1 || !strings.Contains(stderr, "unknown scope") {
		t.Fatalf("bad scope: code %d %q", code, stderr)
	}
	if code, _, stderr := runCmd(ctx, nil, "apikey", "revoke", "--sqlite", path, "--id", k.ID); code != 0 {
		t.Fatalf("revoke: %s", stderr)
	}
	code, out, _ = runCmd(ctx, nil, "apikey", "list", "--sqlite", path)
	var page tether.APIKeyPage
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Keys) != 1 || page.Keys[0].RevokedAt == nil || strings.Contains(out, k.Secret) {
		t.Fatalf("list: code %d %q", code, out)
	}
	if code, _, _ := runCmd(ctx, nil, "apikey", "frob", "--sqlite", path); code != 1 {
		t.Fatalf("unknown subcommand: code %d", code)
	}
	if code, _, stderr := runCmd(ctx, nil, "apikey", "list"); code != 1 || !strings.Contains(stderr, "--sqlite") {
		t.Fatalf("no database: code %d %q", code, stderr)
	}
}
