package loadgen

// The benches start, kill and restart real server processes; so does the
// fault drill (internal/drill), which also signals them (hot restart,
// drain), runs a database and Redis under them and follows a push node
// across a hot restart. Process exports the one machinery both use.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// ProcessSpec says how to start a Process.
type ProcessSpec struct {
	Name      string
	Exe       string
	Args      []string
	Env       []string
	AdminAddr string // polled at /readyz unless Ready is set
	// Ready, if set, says whether the process serves (e.g. a database ping);
	// it is polled instead of /readyz.
	Ready func(context.Context) error
	// LogFile, if set, receives the process's stdout and stderr (appended,
	// across restarts). A file, unlike a pipe, can be inherited by a
	// process's successor (a hot-restarted push node) without holding up
	// the wait for the first one. Empty: the last 64 KiB are kept in memory.
	LogFile string
}

// Process is a server process started by a run.
type Process struct{ c *child }

// StartProcess starts spec and waits (up to 30s) until it is ready.
func StartProcess(ctx context.Context, spec ProcessSpec) (*Process, error) {
	c := &child{
		name: spec.Name, adminAddr: spec.AdminAddr,
		args: append([]string{spec.Exe}, spec.Args...), env: spec.Env,
		readyFn: spec.Ready, logPath: spec.LogFile,
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return &Process{c: c}, nil
}

// Name is the spec's name.
func (p *Process) Name() string { return p.c.name }

// PID is the process serving now: after Adopt, the adopted one.
func (p *Process) PID() int { return p.c.pid }

// Start starts the process again as it was first started, after it was
// killed or exited, and waits until it is ready.
func (p *Process) Start(ctx context.Context) error {
	if p.c.cmd != nil && p.c.alive() == nil {
		return fmt.Errorf("loadgen: %s is still running", p.c.name)
	}
	return p.c.start(ctx)
}

// Kill ends the process with SIGKILL and waits until it is gone: a crash.
func (p *Process) Kill() error { return p.c.kill() }

// Signal sends sig to the process serving now.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.c.pid <= 0 {
		return fmt.Errorf("loadgen: %s has no process", p.c.name)
	}
	return syscall.Kill(p.c.pid, sig)
}

// Wait waits until the process serving now has exited, or ctx ends.
func (p *Process) Wait(ctx context.Context) error {
	for {
		if p.Exited() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadgen: %s (pid %d) still running: %w", p.c.name, p.c.pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Exited reports whether the process serving now has exited.
func (p *Process) Exited() bool {
	if p.c.cmd != nil {
		return p.c.alive() != nil
	}
	return p.c.pid <= 0 || syscall.Kill(p.c.pid, 0) != nil || zombie(p.c.pid)
}

// Adopt makes pid the process serving now (a hot restart's successor,
// which is not this run's child): Kill, Signal, Wait and Stop then act on
// it, and Start starts the original command again.
func (p *Process) Adopt(pid int) {
	p.c.cmd, p.c.pid = nil, pid
}

// Stop ends the process with SIGTERM and waits up to grace, then kills it.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if p.Wait(ctx) == nil {
		return nil
	}
	err := p.Kill()
	return errors.Join(fmt.Errorf("loadgen: %s did not stop on SIGTERM within %s; killed", p.c.name, grace), err)
}

// Log is the end of the process's output, for error reports.
func (p *Process) Log() string { return p.c.logTail() }

// FreePorts returns k loopback ports that were free a moment ago.
func FreePorts(k int) ([]int, error) { return freePorts(k) }

func (c *child) openLog() (*os.File, error) {
	if c.logPath == "" {
		return nil, nil
	}
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("loadgen: log of %s: %w", c.name, err)
	}
	return f, nil
}

// logTail is the last 64 KiB of the process's output.
func (c *child) logTail() string {
	if c.logPath == "" {
		if c.log == nil {
			return ""
		}
		return c.log.String()
	}
	f, err := os.Open(c.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// zombie reports whether pid has exited but is not yet reaped (state Z in
// /proc/<pid>/stat): signal 0 still reaches it, yet it serves nothing.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
