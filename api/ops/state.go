package ops

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/switches"
)

// switchView is a switch as the page shows it.
type switchView struct {
	Name        string          `json:"name"`
	Kind        switches.Kind   `json:"kind"`
	Value       string          `json:"value"`
	Default     string          `json:"default"`
	Description string          `json:"description"`
	Rules       *switches.Rules `json:"rules,omitempty"`
	Set         bool            `json:"set"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
	UpdatedBy   string          `json:"updated_by,omitempty"`
	Degradation bool            `json:"degradation"` // turns a business down: offered under "degrade"
}

// stateView is everything on the page but the live table.
type stateView struct {
	Process    string       `json:"process"`
	Actor      string       `json:"actor"`
	Nodes      []route.Info `json:"nodes"`
	NodesError string       `json:"nodes_error,omitempty"` // the registry did not answer: the rest still works
	Switches   []switchView `json:"switches"`
	Version    int64        `json:"switches_version"`
	Live       bool         `json:"live"` // the live table is served
}

// state handles GET api/state. Switches come from this process's registry
// (no network); nodes from Redis, whose failure is shown, not fatal.
func (h *Handler) state(w http.ResponseWriter, r *http.Request, c caller) {
	v := stateView{Process: h.d.Process, Actor: c.actor(), Nodes: []route.Info{}, Live: h.d.Live != nil}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	nodes, err := h.d.Registry.Nodes(ctx)
	if err != nil {
		h.d.Log.Warn("ops: node list failed", "err", err)
		v.NodesError = "The routing registry (Redis) did not answer: " + err.Error()
	} else {
		v.Nodes = nodes
	}
	reg := h.d.Switches.Registry
	v.Version = reg.Version()
	for _, cur := range reg.List() {
		sv := switchView{Name: cur.Name, Kind: cur.Kind, Value: cur.Value, Default: switches.Format(cur.Kind, cur.Default),
			Description: cur.Description, Rules: cur.Rules, Set: cur.Set, UpdatedBy: cur.UpdatedBy,
			Degradation: slices.Contains(switches.Degradations, cur.Name)}
		if cur.Set {
			t := cur.UpdatedAt
			sv.UpdatedAt = &t
		}
		v.Switches = append(v.Switches, sv)
	}
	writeJSON(w, http.StatusOK, v)
}

// live handles GET api/live/...: the live table's data (Deps.Live).
func (h *Handler) live(w http.ResponseWriter, r *http.Request, _ caller) {
	if h.d.Live == nil {
		writeProblem(w, tether.ENOTFOUND, "This process serves no live table.")
		return
	}
	h.d.Live.ServeLive(w, r, r.PathValue("path"))
}
