package push

import (
	"net"
	"syscall"
	"time"
)

// UpgradeSocketOwner returns the pid of the process serving a node's
// upgrade socket at path: the node's current process, which changes with
// every hot restart (`tether push --upgrade` and the fault drill follow it
// this way). The kernel records the pid at listen; SO_PEERCRED reads it.
// The node sees a peer that leaves before its hello and ignores it.
func UpgradeSocketOwner(path string) (int, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}
