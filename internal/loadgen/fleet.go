package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// fleet is the worker processes of a run and their latest status lines.
// Each worker runs until its stdin closes, so a worker never outlives the
// bench, even if the bench is killed.
type fleet struct {
	cmds   []*exec.Cmd
	stdins []io.WriteCloser
	readWG sync.WaitGroup

	mu      sync.Mutex
	last    []Status
	exited  []error // set when a worker's stdout ends
	changed chan struct{}
}

// WorkerArgs is how a worker process is started: Exe with Args, then the
// worker flags (see RunWorker and tether bench-worker).
type WorkerArgs struct {
	Exe  string
	Args []string // e.g. ["bench-worker"]
	Env  []string // the whole environment of the workers
}

// startFleet starts one worker per share. The private key travels in the
// environment, never on the command line where ps shows it. Every status
// line is signalled on changed.
func startFleet(wa WorkerArgs, addr, keyEnv, platform string, shares []share, changed chan struct{}, stderr io.Writer) (*fleet, error) {
	f := &fleet{last: make([]Status, len(shares)), exited: make([]error, len(shares)), changed: changed}
	if _, isFile := stderr.(*os.File); !isFile && stderr != nil {
		// exec copies each worker's stderr on a goroutine of its own; a
		// shared non-file writer must not see those copies concurrently.
		stderr = &lockedWriter{w: stderr}
	}
	for i, s := range shares {
		args := append(append([]string(nil), wa.Args...),
			"--id", strconv.Itoa(s.id), "--addr", addr, "--first-uid", strconv.FormatInt(s.first, 10),
			"--count", strconv.Itoa(s.count), "--platform", platform)
		cmd := exec.Command(wa.Exe, args...)
		cmd.Env = append(append([]string(nil), wa.Env...), EnvWorkerKey+"="+keyEnv)
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			f.stop()
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			f.stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.stop()
			return nil, fmt.Errorf("loadgen: start worker %d: %w", i, err)
		}
		f.cmds, f.stdins = append(f.cmds, cmd), append(f.stdins, stdin)
		f.readWG.Add(1)
		go f.follow(i, stdout)
	}
	return f, nil
}

// follow reads worker i's status lines until its stdout ends.
func (f *fleet) follow(i int, r io.Reader) {
	defer f.readWG.Done()
	sc := bufio.NewScanner(r)
	var err error
	for sc.Scan() {
		var s Status
		if err = json.Unmarshal(sc.Bytes(), &s); err != nil {
			break
		}
		f.mu.Lock()
		f.last[i] = s
		f.mu.Unlock()
		f.notify()
	}
	if err == nil {
		err = sc.Err()
	}
	if err == nil {
		err = io.EOF
	}
	f.mu.Lock()
	f.exited[i] = err
	f.mu.Unlock()
	f.notify()
}

func (f *fleet) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// total adds the latest status of every worker to t.
func (f *fleet) total(t Status) (_ Status, exited error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.last {
		t.Connected += s.Connected
		t.Failed += s.Failed
		t.Received += s.Received
		t.Frames += s.Frames
		t.Closed += s.Closed
		t.LastReceiveNS = max(t.LastReceiveNS, s.LastReceiveNS)
		t.LastConnectNS = max(t.LastConnectNS, s.LastConnectNS)
		if s.FirstDialNS > 0 && (t.FirstDialNS == 0 || s.FirstDialNS < t.FirstDialNS) {
			t.FirstDialNS = s.FirstDialNS
		}
		t.Dialed = t.Dialed && s.Dialed
		if t.FirstError == "" {
			t.FirstError = s.FirstError
		}
		if f.exited[i] != nil && exited == nil {
			exited = fmt.Errorf("loadgen: worker %d exited early: %v", i, f.exited[i])
		}
	}
	return t, exited
}

// stop closes every worker's stdin, which makes it close its connections
// and exit, and waits for them.
func (f *fleet) stop() error {
	for _, in := range f.stdins {
		_ = in.Close()
	}
	var first error
	for i, cmd := range f.cmds {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = fmt.Errorf("loadgen: worker %d: %w", i, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			if first == nil {
				first = fmt.Errorf("loadgen: worker %d did not stop; killed", i)
			}
		}
	}
	f.readWG.Wait()
	return first
}

// share is one worker's slice of the users.
type share struct {
	id    int // worker number, unique in the run
	first int64
	count int
}

// split divides the n users from uid first on over w workers, numbered
// from id on, as evenly as possible.
func split(id int, first int64, n, w int) []share {
	out := make([]share, 0, w)
	next := first
	for i := range w {
		c := n / w
		if i < n%w {
			c++
		}
		if c == 0 {
			continue
		}
		out = append(out, share{id: id + i, first: next, count: c})
		next += int64(c)
	}
	return out
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
