package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/tetherim/tether/internal/initproc"
)

// runInit is `tether init -- <command>`: the container's first process,
// which outlives a hot restart's old process (internal/initproc).
func runInit(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, initproc.Forwarded...)
	code, err := initproc.Run(args, sigs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether init: %v\n", err)
	}
	return code
}
