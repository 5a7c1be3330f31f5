package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherim/tether/shared/switches"
)

func TestSwitch_SetListHistoryOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	if code, _, stderr := runCmd(ctx, nil, "migrate", "--sqlite", path, "--log-level", "error"); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	code, out, stderr := runCmd(ctx, nil, "switch", "set", "presence", "on", "--sqlite", path,
		"--percent", "5", "--platforms", "ios,android", "--allow", "7,8", "--reason", "gray release step 1")
	var rec switches.Record
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.NewRules == nil || *rec.NewRules.Percent != 5 || len(rec.NewRules.AllowUsers) != 2 {
		t.Fatalf("set: code %d out %q err %q", code, out, stderr)
	}
	if code, _, stderr := runCmd(ctx, nil, "switch", "set", "presence", "off", "--sqlite", path); code != 1 || !strings.Contains(stderr, "reason") {
		t.Fatalf("set without a reason: code %d %q", code, stderr)
	}
	if code, _, stderr := runCmd(ctx, nil, "switch", "set", "presence", "maybe", "--reason", "x", "--sqlite", path); code != 1 || !strings.Contains(stderr, "not on or off") {
		t.Fatalf("set a bad value: code %d %q", code, stderr)
	}
	if code, _, stderr := runCmd(ctx, nil, "switch", "set", "nope", "on", "--reason", "x", "--sqlite", path); code != 1 || !strings.Contains(stderr, "no switch") {
		t.Fatalf("set an unknown switch: code %d %q", code, stderr)
	}
	code, out, _ = runCmd(ctx, nil, "switch", "list", "--sqlite", path)
	if code != 0 || !strings.Contains(out, `{"percent":5,"platforms":["ios","android"],"allow_users":[7,8]}`) || !strings.Contains(out, "webhook") {
		t.Fatalf("list: code %d %q", code, out)
	}
	code, out, _ = runCmd(ctx, nil, "switch", "history", "presence", "--sqlite", path)
	var h []switches.Record
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || len(h) != 1 || h[0].Reason != "gray release step 1" || !strings.HasPrefix(h[0].Actor, "cli:") {
		t.Fatalf("history: code %d %q", code, out)
	}
	if code, _, _ := runCmd(ctx, nil, "switch", "frob", "--sqlite", path); code != 1 {
		t.Fatalf("unknown subcommand: code %d", code)
	}
}
