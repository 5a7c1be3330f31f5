//go:build linux

package initproc

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// The shape of a hot restart: the first child starts a successor and
// exits; init must stay until the successor is done, and return its code.
func TestRun_OutlivesTheFirstChildUntilItsSuccessorExitsWithTheSuccessorsCode(t *testing.T) {
	start := time.Now()
	code, err := Run([]string{"sh", "-c", "(sleep 0.5; exit 3) & exit 0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Fatalf("exit code %d, want the successor's 3", code)
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Fatal("init returned when its first child exited, before the successor")
	}
}

func TestRun_ForwardsSignalsToTheProcessThatServesNow(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		// The successor traps SIGTERM and exits 7: it got the signal although
		// it was not the process init started.
		code, _ := Run([]string{"sh", "-c", `sh -c 'trap "exit 7" TERM; while :; do sleep 0.05; done' & exit 0`}, sigs)
		done <- code
	}()
	time.Sleep(500 * time.Millisecond) // the first child has exited; its successor is init's child now
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 7 {
			t.Fatalf("exit code %d, want 7 (the successor's SIGTERM trap)", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the successor did not get SIGTERM")
	}
}
