// Package switches is the one home of Tether's live switches: named, typed
// settings an operator changes while the cluster runs (to turn a business
// down, or to release a behaviour to a growing share of users), and the
// gray-release rules that decide, per request or per session, whom a switch
// applies to.
//
// Every process holds the current values in a Registry: an immutable
// Snapshot behind an atomic pointer, so a read on a hot path takes no lock
// and makes no network call. The catalogue of switches (catalogue.go) is the
// one list of names, kinds, defaults and descriptions; a switch that was
// never set has its default.
//
// Values change through a Store (the database on the API side, see
// api/store/switches.go), which keeps a history (who, when, old -> new, why).
// The writer then publishes the new snapshot on Redis (redis.go: a pub/sub
// channel and a key holding the latest full snapshot); every process
// follows it (follow.go), with a periodic reload as the fallback.
package switches

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a switch's value.
type Kind string

// The kinds of switches.
const (
	KindBool     Kind = "bool"     // on or off
	KindPercent  Kind = "percent"  // 0% to 100%, in steps of 0.01%; applies to that share of users
	KindInt      Kind = "int"      // a whole number (a limit, a size)
	KindDuration Kind = "duration" // a Go duration: 250ms, 5s, 1m
)

// Def defines one switch: what the catalogue holds.
type Def struct {
	Name        string
	Kind        Kind
	Default     Value
	Description string
	// Scope is the API-key scope that may change the switch.
	Scope string
}

// Value is a switch's value in one representation for every kind: bool 0 or
// 1, percent in basis points (0..10000), int as is, duration in nanoseconds.
type Value int64

// On returns a bool value.
func On(b bool) Value {
	if b {
		return 1
	}
	return 0
}

// Percent returns a percent value (p in 0..100).
func Percent(p float64) Value { return Value(math.Round(p * 100)) }

// Dur returns a duration value.
func Dur(d time.Duration) Value { return Value(d) }

// ErrInvalid wraps every error about a value, a rule or a change that is not
// acceptable (a client mistake, never a server failure).
var ErrInvalid = errors.New("switches: invalid")

// ErrUnknown means a name the catalogue does not hold.
var ErrUnknown = errors.New("switches: unknown switch")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse reads the text form of a value of kind k: bool on/off/true/false/1/0,
// percent "12.5" or "12.5%", int "42", duration "1.5s".
func Parse(k Kind, s string) (Value, error) {
	s = strings.TrimSpace(s)
	switch k {
	case KindBool:
		switch strings.ToLower(s) {
		case "on", "true", "1", "yes":
			return 1, nil
		case "off", "false", "0", "no":
			return 0, nil
		}
		return 0, invalidf("%q is not on or off", s)
	case KindPercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
			return 0, invalidf("%q is not a percentage from 0 to 100", s)
		}
		return Percent(f), nil
	case KindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, invalidf("%q is not a whole number", s)
		}
		return Value(n), nil
	case KindDuration:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, invalidf("%q is not a duration such as 250ms or 5s", s)
		}
		return Value(d), nil
	}
	return 0, invalidf("unknown kind %q", k)
}

// Format returns the text form of v as a value of kind k; Parse reads it back.
func Format(k Kind, v Value) string {
	switch k {
	case KindBool:
		if v != 0 {
			return "on"
		}
		return "off"
	case KindPercent:
		return strconv.FormatFloat(float64(v)/100, 'f', -1, 64) + "%"
	case KindDuration:
		return time.Duration(v).String()
	}
	return strconv.FormatInt(int64(v), 10)
}
