package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// checker collects validation errors, each naming the flag and variable at fault.
type checker struct {
	set  *Set
	errs []error
}

func (c *checker) failf(p any, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", c.set.flagRef(p), fmt.Sprintf(format, args...)))
}

func (c *checker) err() error { return errors.Join(c.errs...) }

func (c *checker) required(p *string) bool {
	if *p == "" {
		c.failf(p, "is required")
		return false
	}
	return true
}

// addr checks a listen or dial address "host:port" (host may be empty, port may be 0).
func (c *checker) addr(p *string) {
	if !c.required(p) {
		return
	}
	_, port, err := net.SplitHostPort(*p)
	if err != nil {
		c.failf(p, "%q is not a host:port address", *p)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		c.failf(p, "%q has no valid port", *p)
	}
}

func (c *checker) positive(p *time.Duration) {
	if *p <= 0 {
		c.failf(p, "must be positive, got %s", *p)
	}
}

func (c *checker) intRange(p *int, lo, hi int) {
	if *p < lo || *p > hi {
		c.failf(p, "must be between %d and %d, got %d", lo, hi, *p)
	}
}
