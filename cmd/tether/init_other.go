//go:build !linux

package main

import (
	"fmt"
	"os"
)

// runInit needs Linux (a child subreaper); elsewhere run the command directly.
func runInit([]string) int {
	fmt.Fprintln(os.Stderr, "tether init: only on Linux")
	return 2
}
