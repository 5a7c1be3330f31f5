// Package ops is the operators' page: one small page, served on the admin
// address of an API process (and of tether dev), readable on a phone at
// 3 a.m. It shows the live per-second table, the push nodes with their
// state, and the switches with their rollout rules, and it carries the
// actions an operator needs: drain a node, hot-restart a node, kick a user,
// degrade a business, change a switch. Every action asks for a reason and a
// confirmation and is logged with who did it.
//
// The page is server-side Go and one embedded static page with vanilla
// JavaScript (static/): no framework, nothing to build. It is never open:
// an operator logs in with an API key of the admin scope (auth.go), which
// gives a session cookie (HttpOnly, SameSite=Strict) and a CSRF token that
// every action must carry. Scripts may send the key in X-API-Key instead.
//
// The actions use the existing homes of each idea: switches through the
// switches service (shared/switches), kicks and node requests through the
// routing registry and the nodes' job streams (shared/route, whose jobs
// shared/stream carries), the node list from the registry's node statuses.
package ops

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/stream"
	"github.com/tetherim/tether/shared/switches"
)

//go:embed static
var staticFiles embed.FS

// Prefix is the path under which the page is served on the admin address.
const Prefix = "/ops/"

// Keys checks the API keys operators log in with (the push API's key
// service, which also knows the bootstrap TETHER_ADMIN_KEY).
type Keys interface {
	KeyBySecret(ctx context.Context, secret string) (*tether.KeyCaller, error)
}

// Users finds the user an operator names by username.
type Users interface {
	UserByName(ctx context.Context, username string) (*tether.User, error)
}

// Live is where the live table comes from: it writes the JSON of what path
// (below Prefix+"api/live/") asks for. Nil: the page shows no live table.
type Live interface {
	ServeLive(w http.ResponseWriter, r *http.Request, path string)
}

// Deps are what the page is built from. Keys, Switches, Registry and
// Streams are required.
type Deps struct {
	Keys     Keys
	Users    Users // nil: users are kicked by id only
	Switches *switches.Service
	Registry *route.Registry
	Streams  stream.Publisher
	Live     Live
	Log      *slog.Logger
	// Process names the process in the page's title ("api", "dev").
	Process string
}

// Handler serves the page and its JSON endpoints under Prefix.
type Handler struct {
	d     Deps
	mux   *http.ServeMux
	auth  *sessions
	start time.Time
}

// requestTimeout bounds the dependency calls of one request: a page at
// 3 a.m. must answer, even if only to say Redis does not.
const requestTimeout = 3 * time.Second

// New returns the page's handler. Mount it at Prefix.
func New(d Deps) *Handler {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Handler{d: d, mux: http.NewServeMux(), auth: newSessions(), start: time.Now()}
	static, _ := fs.Sub(staticFiles, "static")
	h.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET "+Prefix+"{$}", h.page)
	h.mux.HandleFunc("POST "+Prefix+"login", h.login)
	h.mux.HandleFunc("POST "+Prefix+"logout", h.authed(h.logout))
	h.mux.HandleFunc("GET "+Prefix+"api/state", h.authed(h.state))
	h.mux.HandleFunc("GET "+Prefix+"api/live/{path...}", h.authed(h.live))
	h.mux.HandleFunc("POST "+Prefix+"api/switches/{name}", h.authed(h.setSwitch))
	h.mux.HandleFunc("POST "+Prefix+"api/nodes/{id}/drain", h.authed(h.drain))
	h.mux.HandleFunc("POST "+Prefix+"api/nodes/{id}/hot-restart", h.authed(h.hotRestart))
	h.mux.HandleFunc("POST "+Prefix+"api/kick", h.authed(h.kick))
	h.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, tether.ENOTFOUND, "No such page.")
	})
	return h
}

// ServeHTTP sets the headers every answer of the page carries: nothing is
// cached, framed, sniffed or referred elsewhere, and the page runs only its own script.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin") // "no-referrer" would make the browser send Origin: null on the page's own POSTs
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if r.URL.Path == "/ops" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// writeProblem answers with the RFC 9457 document of an error code.
func writeProblem(w http.ResponseWriter, code, detail string) {
	p := problem.New(code, detail)
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", problem.ContentType)
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

// fail answers with the problem for err: its code if it has one, else 503
// with Retry-After when the cause is a dependency (every error here is a
// call to Redis or the database), never a 500 with the cause shown.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	code := tether.ErrorCode(err)
	if code == tether.EINTERNAL {
		h.d.Log.Warn("ops: "+what+" failed", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, tether.EUNAVAILABLE, what+" failed: a dependency did not answer; try again.")
		return
	}
	writeProblem(w, code, tether.ErrorMessage(err))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
