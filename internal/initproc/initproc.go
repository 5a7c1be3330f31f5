//go:build linux

// Package initproc is the process that runs first in Tether's container
// (`tether init -- tether push ...`), for the sake of hot restarts.
//
// A hot restart (push/hotrestart.go) starts the new process as a child of
// the old one, and the old one exits once the new one has taken the node
// over. If the node were the container's first process (pid 1), the
// container would end with it; under a common init (tini, dumb-init, docker
// run --init) it ends too, because they exit when their one child does.
// This init instead becomes a child subreaper, so the new process is
// re-parented to it when the old one exits, and it lives until its last
// descendant has exited, with that one's exit code. Meanwhile it does what
// an init must: it reaps every orphan and forwards the stop signals to its
// children (whichever process serves the node now).
package initproc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Forwarded are the signals passed on to the children.
var Forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Run starts argv (argv[0] is looked up in PATH) with this process's
// environment and standard files, forwards every signal from sigs to the
// children, and returns when no child is left: the exit code of the last
// one to exit (128+n for a signal n).
func Run(argv []string, sigs <-chan os.Signal) (int, error) {
	if len(argv) == 0 {
		return 2, errors.New("init: no command")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 1, fmt.Errorf("init: become a subreaper: %w", err)
	}
	path, err := lookPath(argv[0])
	if err != nil {
		return 127, err
	}
	if _, err := os.StartProcess(path, argv, &os.ProcAttr{
		Env: os.Environ(), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	}); err != nil {
		return 127, fmt.Errorf("init: start %s: %w", argv[0], err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case s := <-sigs:
				for _, pid := range children() {
					_ = syscall.Kill(pid, s.(syscall.Signal))
				}
			}
		}
	}()
	code := 0
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ECHILD):
			return code, nil // the last descendant is gone
		case err != nil:
			return 1, fmt.Errorf("init: wait: %w", err)
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		default:
			code = ws.ExitStatus()
		}
	}
}

func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("init: %s: not found in PATH", name)
}

// children lists the processes whose parent is this one (the node, and
// during a hot restart its successor until the old one exits), from /proc.
func children() []int {
	me := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 {
			if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == me {
				out = append(out, pid)
			}
		}
	}
	return out
}
