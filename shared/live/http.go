// The admin address serves the table as JSON, for `tether top`, the ops
// page and scripts:
//
//	GET /live             this process's seconds, oldest first (?last=N, default 60, at most RingSize)
//	GET /live/cluster     the newest second of every process publishing to Redis, and their sum

package live

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
)

// DefaultLast is how many seconds GET /live returns without ?last.
const DefaultLast = 60

// History is what GET /live answers.
type History struct {
	Process   string     `json:"process"`
	Role      string     `json:"role"`
	Snapshots []Snapshot `json:"snapshots"` // oldest first
}

// ClusterReader reads the cluster's newest second (Redis implements it).
type ClusterReader interface {
	Cluster(ctx context.Context) (ClusterView, error)
}

// clusterTimeout bounds one read of the cluster.
const clusterTimeout = 2 * time.Second

// Register adds GET /live and GET /live/cluster to mux. cluster may be nil:
// /live/cluster then answers 503.
func Register(mux *http.ServeMux, rec *Recorder, cluster ClusterReader) {
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) {
		last := DefaultLast
		if v := r.URL.Query().Get("last"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > RingSize {
				writeProblem(w, tether.EINVALID, "last must be a whole number from 1 to "+strconv.Itoa(RingSize))
				return
			}
			last = n
		}
		writeJSON(w, History{Process: rec.Process(), Role: rec.Role(), Snapshots: nonNil(rec.Last(last))})
	})
	mux.HandleFunc("GET /live/cluster", func(w http.ResponseWriter, r *http.Request) {
		if cluster == nil {
			writeProblem(w, tether.EUNAVAILABLE, "this process publishes to no Redis")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), clusterTimeout)
		defer cancel()
		v, err := cluster.Cluster(ctx)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			writeProblem(w, tether.EUNAVAILABLE, "redis did not answer: the cluster view is not available (GET /live still is)")
			return
		}
		writeJSON(w, v)
	})
}

func nonNil(s []Snapshot) []Snapshot {
	if s == nil {
		return []Snapshot{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, code, detail string) {
	p := problem.New(code, detail)
	w.Header().Set("Content-Type", problem.ContentType)
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
