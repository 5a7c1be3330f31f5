// Package config holds the settings of each tether subcommand: one struct per
// subcommand (APIConfig, PushConfig, DevConfig, MigrateConfig, ChatConfig),
// filled from command-line flags and TETHER_* environment variables. A flag
// wins over the environment, and the environment over the default.
//
// Every setting is declared once with its flag name, environment variable,
// default and doc string; the same declaration drives flag help, the
// settings tables of README.md (see Markdown) and the start-up log line,
// where secrets are masked (see Set.LogValue).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Kind says how a setting's value is masked when printed.
type Kind int

const (
	// Plain values are printed as they are.
	Plain Kind = iota
	// Secret values are printed as "***" when set.
	Secret
	// DSN values are MySQL DSNs, printed with their password masked.
	DSN
)

// Setting is one declared setting.
type Setting struct {
	Name    string // flag name, without dashes
	Env     string // environment variable
	Default string // default, as text
	Usage   string // doc string: flag help and README
	Kind    Kind

	value flag.Value
}

// Set is the declared settings of one subcommand.
type Set struct {
	Command  string
	settings []*Setting
	fs       *flag.FlagSet
}

// NewSet returns an empty set for a subcommand.
func NewSet(command string) *Set {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Set{Command: command, fs: fs}
}

// Settings returns the declared settings in declaration order.
func (s *Set) Settings() []Setting {
	out := make([]Setting, len(s.settings))
	for i, st := range s.settings {
		out[i] = *st
	}
	return out
}

func (s *Set) add(p flag.Value, name, env, def string, kind Kind, usage string) {
	st := &Setting{Name: name, Env: env, Default: def, Usage: usage, Kind: kind, value: p}
	s.settings = append(s.settings, st)
	s.fs.Var(p, name, usage)
}

// Declarations bind a setting to a field. They do not write the field:
// ApplyDefaults and Parse do, so a config can be re-declared on a copy of
// itself to validate or print it.

// String declares a string setting stored in p, with default def.
func (s *Set) String(p *string, name, env, def, usage string) {
	s.add((*stringValue)(p), name, env, def, Plain, usage)
}

// SecretString declares a string setting that is masked when printed.
func (s *Set) SecretString(p *string, name, env, def, usage string) {
	s.add((*stringValue)(p), name, env, def, Secret, usage)
}

// DSNString declares a MySQL DSN setting whose password is masked when printed.
func (s *Set) DSNString(p *string, name, env, def, usage string) {
	s.add((*stringValue)(p), name, env, def, DSN, usage)
}

// Int declares an integer setting.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	s.add((*intValue)(p), name, env, strconv.Itoa(def), Plain, usage)
}

// Duration declares a duration setting ("250ms", "30s", "1h").
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	s.add((*durationValue)(p), name, env, def.String(), Plain, usage)
}

// ApplyDefaults sets every declared field to its default.
func (s *Set) ApplyDefaults() {
	for _, st := range s.settings {
		// Defaults are written by the declarations above and always parse.
		_ = st.value.Set(st.Default)
	}
}

// Parse fills the set from its defaults, then getenv, then args. It returns the arguments
// left after the flags. Unknown flags, malformed values and stray positional
// arguments are errors naming the flag or variable at fault. getenv is
// os.Getenv in the binary; tests pass their own.
func (s *Set) Parse(args []string, getenv func(string) string) error {
	s.ApplyDefaults()
	var errs []error
	for _, st := range s.settings {
		v := getenv(st.Env)
		if v == "" {
			continue
		}
		if err := st.value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %v", st.Env, maskValue(st.Kind, v), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("tether %s: %v", s.Command, err)
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("tether %s: unexpected argument %q", s.Command, s.fs.Arg(0))
	}
	return nil
}

// ErrHelp is returned by Parse when -h or --help was given.
var ErrHelp = errors.New("help requested")

// PrintUsage writes the settings of the set, one per flag, with their
// environment variables and defaults.
func (s *Set) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: tether %s [flags]\n\nFlags (each can also be set by its environment variable; a flag wins):\n", s.Command)
	for _, st := range s.settings {
		def := st.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", st.Name, st.Env, def, st.Usage)
	}
}

// LogValue returns the current values as slog attributes, secrets masked,
// so a process can print its configuration at start in one line.
func (s *Set) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(s.settings))
	for _, st := range s.settings {
		attrs = append(attrs, slog.String(st.Name, maskValue(st.Kind, st.value.String())))
	}
	return slog.GroupValue(attrs...)
}

// flagRef names a setting in error messages: "--mysql (TETHER_MYSQL_DSN)".
func (s *Set) flagRef(p any) string {
	for _, st := range s.settings {
		if samePointer(st.value, p) {
			return fmt.Sprintf("--%s (%s)", st.Name, st.Env)
		}
	}
	return "a setting"
}

func samePointer(v flag.Value, p any) bool {
	switch v := v.(type) {
	case *stringValue:
		q, ok := p.(*string)
		return ok && (*string)(v) == q
	case *intValue:
		q, ok := p.(*int)
		return ok && (*int)(v) == q
	case *durationValue:
		q, ok := p.(*time.Duration)
		return ok && (*time.Duration)(v) == q
	}
	return false
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not an integer")
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New(`not a duration (examples: "500ms", "30s", "1h")`)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }
