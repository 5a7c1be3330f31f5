package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A crew is a set of role workers (`tether bench-worker --role R`) that the
// chat, frames and storm scenarios drive step by step. Unlike the fleet of
// the idle and broadcast benches, which only connect and report, role
// workers take commands: the parent writes JSON lines to a worker's stdin
// (the first one is the worker's configuration, so secrets never show in
// ps) and the worker answers with report lines on stdout. A worker stops
// when its stdin ends, so it never outlives the bench.

// Report is one line a role worker writes.
type Report struct {
	Kind string          `json:"kind"` // "ready", "step", "status", "result"...
	Step int             `json:"step,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Command is one line the parent writes after the configuration.
type Command struct {
	Cmd  string          `json:"cmd"`
	Step int             `json:"step,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

type crew struct {
	role   string
	cmds   []*exec.Cmd
	stdins []io.WriteCloser
	all    chan workerReport // every worker's reports, and their exits
	dead   []bool            // owned by gather
	tail   *tailWriter
	readWG sync.WaitGroup
}

// workerReport is a report of worker i, or (exited) the end of its output.
type workerReport struct {
	i      int
	r      Report
	exited bool
}

// startCrew starts one worker of role per configuration and hands each its
// configuration.
func startCrew(wa WorkerArgs, role string, configs []any, stderr io.Writer) (*crew, error) {
	c := &crew{role: role, tail: &tailWriter{max: 32 << 10}, all: make(chan workerReport, 1024)}
	var errw io.Writer = c.tail
	if stderr != nil {
		if _, isFile := stderr.(*os.File); !isFile {
			stderr = &lockedWriter{w: stderr}
		}
		errw = io.MultiWriter(stderr, c.tail)
	}
	errw = &lockedWriter{w: errw}
	for i, cfg := range configs {
		b, err := json.Marshal(cfg)
		if err != nil {
			c.stop()
			return nil, err
		}
		args := append(append([]string(nil), wa.Args...), "--role", role, "--id", fmt.Sprint(i))
		cmd := exec.Command(wa.Exe, args...)
		cmd.Env = wa.Env
		cmd.Stderr = errw
		stdin, err := cmd.StdinPipe()
		if err != nil {
			c.stop()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			c.stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("loadgen: start %s worker %d: %w", role, i, err)
		}
		c.cmds, c.stdins, c.dead = append(c.cmds, cmd), append(c.stdins, stdin), append(c.dead, false)
		c.readWG.Add(1)
		go func() {
			defer c.readWG.Done()
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				var r Report
				if json.Unmarshal(sc.Bytes(), &r) != nil {
					continue // not a report: a stray line, ignored
				}
				c.all <- workerReport{i: i, r: r}
			}
			_, _ = io.Copy(io.Discard, stdout)
			c.all <- workerReport{i: i, exited: true}
		}()
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			c.stop()
			return nil, fmt.Errorf("loadgen: configure %s worker %d: %w", role, i, err)
		}
	}
	return c, nil
}

// size is the number of workers.
func (c *crew) size() int { return len(c.cmds) }

// send writes cmd to every worker.
func (c *crew) send(cmd Command) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	for i, in := range c.stdins {
		if _, err := in.Write(b); err != nil {
			return fmt.Errorf("loadgen: %s worker %d: %w\n%s", c.role, i, err, c.tail.String())
		}
	}
	return nil
}

// gather waits for a report of kind (and step) from every worker and
// returns their bodies in worker order. Other reports are skipped; a
// worker that exits first is an error that carries the crew's stderr.
func (c *crew) gather(ctx context.Context, kind string, step int) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(c.cmds))
	missing := len(out)
	for i, d := range c.dead {
		if d {
			return nil, fmt.Errorf("loadgen: %s worker %d has exited:\n%s", c.role, i, c.tail.String())
		}
	}
	for missing > 0 {
		var wr workerReport
		select {
		case wr = <-c.all:
		case <-ctx.Done():
			return nil, fmt.Errorf("loadgen: waiting for %s of %d %s workers: %w\n%s", kind, missing, c.role, ctx.Err(), c.tail.String())
		}
		switch {
		case wr.exited:
			c.dead[wr.i] = true
			return nil, fmt.Errorf("loadgen: %s worker %d exited before %s:\n%s", c.role, wr.i, kind, c.tail.String())
		case wr.r.Kind == "error":
			return nil, fmt.Errorf("loadgen: %s worker %d: %s", c.role, wr.i, wr.r.Body)
		case wr.r.Kind == kind && wr.r.Step == step && out[wr.i] == nil:
			out[wr.i] = wr.r.Body
			if out[wr.i] == nil {
				out[wr.i] = json.RawMessage("null")
			}
			missing--
		}
	}
	return out, nil
}

// sample sums the CPU time of the workers (RSS is left zero).
func (c *crew) sample() procSample {
	s := procSample{at: time.Now()}
	for _, cmd := range c.cmds {
		if d, err := CPUTime(cmd.Process.Pid); err == nil {
			s.cpu += d
		}
	}
	return s
}

// stop closes every worker's stdin and waits for them to exit.
func (c *crew) stop() error {
	if c == nil {
		return nil
	}
	for _, in := range c.stdins {
		_ = in.Close()
	}
	var first error
	for i, cmd := range c.cmds {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = fmt.Errorf("loadgen: %s worker %d: %w", c.role, i, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			if first == nil {
				first = fmt.Errorf("loadgen: %s worker %d did not stop; killed", c.role, i)
			}
		}
	}
	// Drain the reports so the readers end.
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-c.all:
			case <-done:
				return
			}
		}
	}()
	c.readWG.Wait()
	close(done)
	return first
}

// roleWorker is the worker side of a crew: its configuration, its
// commands and a way to report.
type roleWorker struct {
	ID   int
	cmds chan Command // closed when stdin ends
	mu   sync.Mutex
	enc  *json.Encoder
}

// emit writes one report line.
func (w *roleWorker) emit(kind string, step int, body any) error {
	var raw json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		raw = b
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(Report{Kind: kind, Step: step, Body: raw})
}

// RunRole runs one role worker: it reads its configuration from the first
// line of in, then commands, until in ends or ctx is done.
func RunRole(ctx context.Context, role string, id int, in io.Reader, out io.Writer) error {
	br := bufio.NewReaderSize(in, 64<<10)
	first, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("loadgen: %s worker: no configuration on stdin: %w", role, err)
	}
	w := &roleWorker{ID: id, cmds: make(chan Command, 16), enc: json.NewEncoder(out)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(w.cmds)
		defer cancel()
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				var c Command
				if json.Unmarshal(line, &c) == nil {
					w.cmds <- c
				}
			}
			if err != nil {
				return
			}
		}
	}()
	switch role {
	case roleChatSend:
		err = runChatSender(ctx, w, first)
	case roleChatRecv:
		err = runChatReceiver(ctx, w, first)
	case roleStorm:
		err = runStormWorker(ctx, w, first)
	case roleGroupRecv: // group.go
		err = runGroupReceiver(ctx, w, first)
	case rolePushSend: // pushbench.go
		err = runPushSender(ctx, w, first)
	case rolePushRecv:
		err = runPushReceiver(ctx, w, first)
	default:
		return fmt.Errorf("loadgen: unknown worker role %q", role)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		_ = w.emit("error", 0, err.Error())
		return err
	}
	return nil
}

// nextCmd returns the next command, or false once stdin ended.
func (w *roleWorker) nextCmd(ctx context.Context) (Command, bool) {
	select {
	case c, ok := <-w.cmds:
		return c, ok
	case <-ctx.Done():
		return Command{}, false
	}
}
