package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/handoff"
	"github.com/tetherim/tether/internal/stack"
)

// Hot restart of `tether push`: SIGUSR2 (or `tether push --upgrade`, which
// sends it, or an operator's request on the ops page, which reaches the node
// through its job stream) makes the running process start the binary found at its path
// now, with the same arguments and environment plus envTakeover. The new
// process takes the listeners and every live connection over through the
// node's upgrade socket (push/hotrestart.go) and the old one exits once the
// handoff is complete. If the new process fails, the old one keeps serving.

// envTakeover marks a process started by a hot restart: it takes the
// running node over instead of binding its addresses.
const envTakeover = "TETHER_UPGRADE_TAKEOVER"

// takeoverRequested reports whether this process was started by a hot
// restart, and removes the marker so that it does not leak into processes
// this one starts other than its own successor.
func takeoverRequested(getenv func(string) string) bool {
	if getenv(envTakeover) != "1" {
		return false
	}
	_ = os.Unsetenv(envTakeover)
	return true
}

// startSuccessor starts the new process of a hot restart: the executable
// at this process's path, re-read from disk (so a binary replaced there is
// the one that runs), with this process's arguments and environment.
func startSuccessor() (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), envTakeover+"=1"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
}

// servePushUpgradable runs p until a signal, a component failure or a hot
// restart that handed it over; usr2 delivers SIGUSR2.
func servePushUpgradable(ctx context.Context, p *stack.Push, c config.PushConfig, usr2 <-chan os.Signal, log *slog.Logger) error {
	var upgrading chan error // non-nil while a hot restart is under way
	var fatal error
loop:
	for {
		select {
		case <-usr2:
			if upgrading != nil {
				log.Warn("SIGUSR2: a hot restart is already under way")
				continue
			}
			log.Info("SIGUSR2: hot restart", "exe", os.Args[0])
			upgrading = startUpgrade(p, c)
		case <-p.HotRestartRequests(): // an operator, through the node's stream (the ops page)
			if upgrading != nil {
				log.Warn("operator's hot restart: one is already under way")
				continue
			}
			log.Info("operator asked for a hot restart", "exe", os.Args[0])
			upgrading = startUpgrade(p, c)
		case <-p.Drained(): // an operator's drain stopped the node
			log.Info("node drained on an operator's request; exiting")
			break loop
		case err := <-upgrading:
			upgrading = nil
			if err != nil {
				log.Error("hot restart failed; this process keeps serving", "err", err)
			}
		case <-p.HandedOver():
			log.Info("hot restart complete: the new process serves; exiting")
			break loop
		case <-ctx.Done():
			if upgrading != nil {
				// Draining now would race the handoff; it ends within
				// --upgrade-timeout either way.
				log.Info("signal received during a hot restart; waiting for it")
				select {
				case <-upgrading:
				case <-p.HandedOver():
				}
			}
			log.Info("signal received; stopping", "grace", c.DrainWindow+c.ShutdownTimeout)
			break loop
		case fatal = <-p.Err():
			break loop
		}
	}
	// Stop drains, or only releases this process after a handoff.
	sctx, cancel := context.WithTimeout(context.Background(), c.DrainWindow+c.ShutdownTimeout)
	defer cancel()
	return errors.Join(fatal, p.Stop(sctx))
}

// startUpgrade begins a hot restart of p in the background; the channel
// delivers its outcome.
func startUpgrade(p *stack.Push, c config.PushConfig) chan error {
	done := make(chan error, 1)
	go func() {
		uctx, cancel := context.WithTimeout(context.Background(), c.UpgradeTimeout)
		defer cancel()
		done <- p.Upgrade(uctx, startSuccessor)
	}()
	return done
}

// notifyUpgrade delivers SIGUSR2 on the returned channel; stop undoes it.
// It must run before the node serves: SIGUSR2's default action ends the
// process.
func notifyUpgrade() (ch <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	return c, func() { signal.Stop(c) }
}

// cutUpgradeFlag removes --upgrade from args and reports whether it was there.
func cutUpgradeFlag(args []string) ([]string, bool) {
	out := make([]string, 0, len(args))
	found := false
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "upgrade", "upgrade=true", "upgrade=1":
			if strings.HasPrefix(a, "-") {
				found = true
				continue
			}
		}
		out = append(out, a)
	}
	return out, found
}

// requestUpgrade is `tether push --upgrade`: it finds the process serving
// the node's upgrade socket, sends it SIGUSR2 and waits until another
// process serves the socket, which happens once the handoff is complete.
func requestUpgrade(ctx context.Context, c config.PushConfig, stdout io.Writer) error {
	path := c.UpgradeSocketPath()
	old, err := handoff.Owner(path)
	if err != nil {
		return fmt.Errorf("no running node %q to upgrade: %w", c.NodeID, err)
	}
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		return fmt.Errorf("signal process %d: %w", old, err)
	}
	fmt.Fprintf(stdout, "node %s: asked process %d to hot-restart\n", c.NodeID, old)
	// The running node kills a successor that takes longer than
	// --upgrade-timeout; a little more covers its own start.
	deadline := time.Now().Add(c.UpgradeTimeout + 10*time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if pid, err := handoff.Owner(path); err == nil && pid != old {
			fmt.Fprintf(stdout, "node %s: process %d took over from %d\n", c.NodeID, pid, old)
			return nil
		}
	}
	return fmt.Errorf("node %s: process %d was not taken over within %s; it keeps serving if the new process failed (see its log)", c.NodeID, old, c.UpgradeTimeout)
}
