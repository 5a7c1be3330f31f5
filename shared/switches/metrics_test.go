package switches

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector_ExportsValueChangeTimeAndRulesPerSwitch(t *testing.T) {
	// Its own catalogue, so new entries in the real one do not change it.
	r := NewRegistry([]Def{
		{Name: "fanout", Kind: KindInt, Scope: AdminScope},
		{Name: "feature", Kind: KindBool, Default: 1, Scope: AdminScope},
		{Name: "interval", Kind: KindDuration, Default: Dur(3 * time.Second), Scope: AdminScope},
		{Name: "share", Kind: KindPercent, Scope: AdminScope},
	})
	at := time.Unix(1700000000, 0).UTC()
	r.Install(&Snapshot{Version: 4, Switches: []State{
		{Name: "fanout", Value: "500", UpdatedAt: at, UpdatedBy: "ops"},
		{Name: "feature", Value: "on", Rules: &Rules{Percent: pct(5)}, UpdatedAt: at},
		{Name: "share", Value: "12.5%", UpdatedAt: at},
	}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(r))
	want := `
# HELP tether_switch_changed_timestamp_seconds When each switch was last set (Unix time).
# TYPE tether_switch_changed_timestamp_seconds gauge
tether_switch_changed_timestamp_seconds{switch="fanout"} 1.7e+09
tether_switch_changed_timestamp_seconds{switch="feature"} 1.7e+09
tether_switch_changed_timestamp_seconds{switch="share"} 1.7e+09
# HELP tether_switch_rules 1 when the switch carries gray-release rules.
# TYPE tether_switch_rules gauge
tether_switch_rules{switch="fanout"} 0
tether_switch_rules{switch="feature"} 1
tether_switch_rules{switch="interval"} 0
tether_switch_rules{switch="share"} 0
# HELP tether_switch_value The current value of each switch (bool 0/1, percent 0-100, int, duration in seconds).
# TYPE tether_switch_value gauge
tether_switch_value{switch="fanout"} 500
tether_switch_value{switch="feature"} 1
tether_switch_value{switch="interval"} 3
tether_switch_value{switch="share"} 12.5
# HELP tether_switches_version The version of the switches this process has installed.
# TYPE tether_switches_version gauge
tether_switches_version 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
