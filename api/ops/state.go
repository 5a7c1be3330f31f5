package ops

import (
	"context"
	"net/http"
	"slices"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/switches"
)

// switchView is a switch as the page shows it: the REST view, and whether
// it turns a business down (offered under "degrade").
type switchView struct {
	switches.View
	Degradation bool `json:"degradation"`
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
		sv := switchView{View: switches.ViewOf(cur), Degradation: slices.Contains(switches.Degradations, cur.Name)}
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
