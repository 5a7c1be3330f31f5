package contract

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/stack"
)

// startDev runs a fresh `tether dev` in-process on loopback ports and its own
// data directory, stopped when the test ends, and returns the REST base URL.
func startDev(t *testing.T) string {
	t.Helper()
	cfg := config.DefaultDev()
	cfg.HTTPAddr, cfg.PushAddr, cfg.WSAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.PushAPI.AdminKey = flowAdminKey
	d, err := stack.StartDev(context.Background(), cfg, stack.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("stop tether dev: %v", err)
		}
	})
	return "http://" + d.HTTPAddr
}
