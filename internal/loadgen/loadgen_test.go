package loadgen

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSplit_GivesEveryUserToExactlyOneWorker(t *testing.T) {
	for _, tc := range []struct{ id, n, w int }{{0, 15000, 3}, {3, 7501, 3}, {0, 5, 8}, {2, 1, 2}} {
		shares := split(tc.id, 100, tc.n, tc.w)
		next, total := int64(100), 0
		for i, s := range shares {
			if s.first != next || s.count <= 0 || s.id != tc.id+i {
				t.Fatalf("%+v: share %d is %+v", tc, i, s)
			}
			if big, small := (tc.n+tc.w-1)/tc.w, tc.n/tc.w; s.count > big || s.count < small {
				t.Fatalf("%+v: uneven share %+v", tc, s)
			}
			next += int64(s.count)
			total += s.count
		}
		if total != tc.n {
			t.Fatalf("%+v: %d users shared", tc, total)
		}
	}
}

func TestProc_ReadsThisProcesssRSSAndCPUTime(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS: %d, %v", rss, err)
	}
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) { // burn some CPU
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPUTime: %s, %v", cpu, err)
	}
	if _, err := RSS(1 << 30); err == nil {
		t.Fatal("RSS of a process that does not exist")
	}
}

func TestConfig_KeepsEveryWorkerProcessWellBelowTheOpenFileLimit(t *testing.T) {
	c := Config{N: 20000, Worker: WorkerArgs{Exe: "x"}, Server: Server{Exe: "x"}}
	if err := c.defaults(); err != nil || c.Workers != 3 {
		t.Fatalf("default workers for 20000: %d, %v", c.Workers, err)
	}
	c = Config{N: 20000, Workers: 2, Worker: WorkerArgs{Exe: "x"}, Server: Server{Exe: "x"}}
	if err := c.defaults(); err == nil || !strings.Contains(err.Error(), "per worker process") {
		t.Fatalf("20000 over 2 workers: %v", err)
	}
	c = Config{N: MaxConnections + 1, Worker: WorkerArgs{Exe: "x"}, Server: Server{Exe: "x"}}
	if err := c.defaults(); err == nil {
		t.Fatal("over MaxConnections accepted")
	}
}
