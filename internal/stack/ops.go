package stack

import (
	"encoding/json"
	"net/http"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/ops"
	"github.com/tetherim/tether/shared/live"
	"github.com/tetherim/tether/shared/problem"
)

// withOps serves the operators' page (api/ops) beside the admin endpoints
// of an API process or tether dev, under /ops/. The page authenticates
// every request itself (an admin API key); the other admin endpoints stay
// as they are. Its live table is this process's (lt), behind the page's
// login.
func withOps(admin http.Handler, d ops.Deps, process string, lt *liveTable) http.Handler {
	d.Process = process
	if lt != nil {
		d.Live = newOpsLive(lt)
	}
	page := ops.New(d)
	mux := http.NewServeMux()
	mux.Handle("/ops", page)
	mux.Handle(ops.Prefix, page)
	mux.Handle("/", admin)
	return mux
}

// opsLive serves the live table to the ops page: the same answers as the
// admin's GET /live (path "local") and GET /live/cluster (path "cluster"),
// from shared/live's own handlers, so the two never differ.
type opsLive struct{ mux *http.ServeMux }

func newOpsLive(lt *liveTable) opsLive {
	mux := http.NewServeMux()
	live.Register(mux, lt.rec, lt.cluster)
	return opsLive{mux: mux}
}

// ServeLive implements ops.Live.
func (l opsLive) ServeLive(w http.ResponseWriter, r *http.Request, path string) {
	r2 := r.Clone(r.Context())
	switch path {
	case "local":
		r2.URL.Path = "/live"
	case "cluster":
		r2.URL.Path = "/live/cluster"
	default:
		p := problem.New(tether.ENOTFOUND, "The live table is at local or cluster.")
		b, _ := json.Marshal(p)
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(p.Status)
		_, _ = w.Write(b)
		return
	}
	r2.URL.RawPath = ""
	l.mux.ServeHTTP(w, r2)
}
