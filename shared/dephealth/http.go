package dephealth

import (
	"encoding/json"
	"net/http"
)

// health is the body of /healthz: the process is alive, and how each of its
// dependencies fares. It never fails for a dependency: that is readiness's
// business, and only for the dependencies the process cannot work without.
type health struct {
	Status       string            `json:"status"`
	Dependencies map[string]Status `json:"dependencies"`
}

// ServeHealth writes the JSON body of /healthz with status 200.
func (s *Set) ServeHealth(w http.ResponseWriter) {
	h := health{Status: "ok", Dependencies: map[string]Status{}}
	for _, st := range s.Snapshot() {
		h.Dependencies[st.Name] = st
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(h)
}
