package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tetherim/tether/internal/loadgen"
)

// writeBenchResult prints a scenario's result document on stdout and
// appends it to the results folder (none if dir is empty).
func writeBenchResult(kind string, started time.Time, command string, params map[string]any, res any, dir string, stdout, stderr io.Writer) error {
	doc, err := loadgen.NewDocument(kind, started, command, params, res)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	for _, t := range doc.Targets {
		fmt.Fprintf(stderr, "target\t%s %s: %s\n", t.Name, loadgen.FormatTarget(t), map[bool]string{true: "met", false: "missed"}[t.Met])
	}
	if dir == "" {
		return nil
	}
	path, err := loadgen.WriteDocument(dir, doc)
	if err != nil {
		return fmt.Errorf("bench %s: result not saved: %w", kind, err)
	}
	fmt.Fprintf(stderr, "result\t%s\n", path)
	return nil
}

// benchCommand is the command line of a run as a shell would take it.
func benchCommand(kind string, args []string) string {
	parts := []string{"tether", "bench", kind}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// benchParams is every flag of a run with its effective value, except
// those that only say where things are on this machine.
func benchParams(fs *flag.FlagSet) map[string]any {
	out := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "exe", "results", "token-key-file", "heap-profile":
			return
		}
		if fs.Name() == "bench cluster" && f.Name == "n" {
			return // the cluster counts by --nodes and --per-node
		}
		v := any(f.Value.String())
		if g, ok := f.Value.(flag.Getter); ok {
			v = g.Get()
			if d, ok := v.(time.Duration); ok {
				v = d.String()
			}
		}
		out[f.Name] = v
	})
	return out
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runBenchReport runs `tether bench report`.
func runBenchReport(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	results := fs.String("results", "bench/results", "folder of result documents; the newest of each scenario is reported")
	out := fs.String("out", "docs", "folder benchmarks.md and benchmarks.svg are written to")
	notes := fs.String("notes", "bench/notes.md", "Markdown file included as the report's notes, if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench report: unexpected argument %q", fs.Arg(0))
	}
	md, svg, err := loadgen.WriteReport(loadgen.ReportConfig{Results: *results, Out: *out, Notes: *notes})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s and %s\n", md, svg)
	return nil
}
