package config

import (
	"fmt"
	"strings"
)

// All returns the settings of every configurable subcommand, in the order
// the README documents them.
func All() []*Set {
	return []*Set{DevSettings(), APISettings(), PushSettings(), MigrateSettings(), ChatSettings()}
}

// Markdown renders a set as a Markdown table: flag, variable, default, meaning.
// README.md embeds these tables; a test keeps them in step with the code.
func Markdown(s *Set) string {
	var b strings.Builder
	b.WriteString("| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n")
	for _, st := range s.settings {
		def := "—"
		if st.Default != "" {
			def = "`" + st.Default + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", st.Name, st.Env, def, strings.ReplaceAll(st.Usage, "|", `\|`))
	}
	return b.String()
}
