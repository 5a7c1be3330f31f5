package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/route"
	"github.com/tetherim/tether/shared/switches"
)

// The actions. Each takes a JSON body with a reason (required: it goes to
// the log, and for switches to their history) and answers with JSON. The
// page asks for the reason and a confirmation before it sends one.

// maxReason bounds a reason, as the switches' history does.
const maxReason = 500

// decode reads a small JSON body into v and checks its reason.
func decode(r *http.Request, v any, reason func() string) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return tether.Errorf(tether.EINVALID, "unreadable body")
	}
	if len(b) > 64<<10 {
		return tether.Errorf(tether.ETOOLARGE, "body over 64 KiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return tether.Errorf(tether.EINVALID, "body: %s", err.Error())
	}
	s := strings.TrimSpace(reason())
	switch {
	case s == "":
		return tether.Errorf(tether.EINVALID, "a reason is required")
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxReason:
		return tether.Errorf(tether.EINVALID, "reason: at most %d characters of UTF-8", maxReason)
	}
	return nil
}

type setSwitchBody struct {
	Value  string          `json:"value"`
	Rules  *switches.Rules `json:"rules"`
	Reason string          `json:"reason"`
}

// setSwitch handles POST api/switches/{name}: the value and rules replace
// the current ones, through the switches service (stored with its history,
// published to every process).
func (h *Handler) setSwitch(w http.ResponseWriter, r *http.Request, c caller) {
	var b setSwitchBody
	if err := decode(r, &b, func() string { return b.Reason }); err != nil {
		h.fail(w, r, "decode", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	rec, err := h.d.Switches.Set(ctx, switches.Change{
		Name: r.PathValue("name"), Value: b.Value, Rules: b.Rules, Reason: strings.TrimSpace(b.Reason), Actor: c.actor(),
	})
	switch {
	case errors.Is(err, switches.ErrUnknown):
		writeProblem(w, tether.ENOTFOUND, "No such switch.")
		return
	case errors.Is(err, switches.ErrInvalid):
		writeProblem(w, tether.EINVALID, strings.TrimPrefix(err.Error(), switches.ErrInvalid.Error()+": "))
		return
	case err != nil:
		h.fail(w, r, "changing the switch", err)
		return
	}
	h.d.Log.Info("ops: switch changed", "switch", rec.Name, "old", rec.OldValue, "new", rec.NewValue, "actor", c.actor(), "reason", rec.Reason)
	writeJSON(w, http.StatusOK, map[string]any{"change": rec})
}

type reasonBody struct {
	Reason string `json:"reason"`
}

// nodeFor returns the listed node id, or answers 404.
func (h *Handler) nodeFor(w http.ResponseWriter, r *http.Request) (route.Info, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	nodes, err := h.d.Registry.Nodes(ctx)
	if err != nil {
		h.fail(w, r, "listing the nodes", err)
		return route.Info{}, false
	}
	id := r.PathValue("id")
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	writeProblem(w, tether.ENOTFOUND, "No such node.")
	return route.Info{}, false
}

// control sends a drain or hot-restart request to a ready node.
func (h *Handler) control(w http.ResponseWriter, r *http.Request, c caller, kind job.Kind) {
	var b reasonBody
	if err := decode(r, &b, func() string { return b.Reason }); err != nil {
		h.fail(w, r, "decode", err)
		return
	}
	n, ok := h.nodeFor(w, r)
	if !ok {
		return
	}
	switch {
	case n.State != route.StateReady:
		writeProblem(w, tether.ECONFLICT, "The node is "+n.State+", not ready.")
		return
	case kind == job.KindHotRestart && !n.HotRestart:
		writeProblem(w, tether.ECONFLICT, "The node cannot hot-restart: it runs without an upgrade socket (tether dev).")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	reason := c.actor() + ": " + strings.TrimSpace(b.Reason)
	if err := route.ControlNode(ctx, h.d.Streams, n.ID, kind, reason); err != nil {
		h.fail(w, r, "sending the request to the node", err)
		return
	}
	h.d.Log.Info("ops: node request sent", "node", n.ID, "kind", kind, "actor", c.actor(), "reason", b.Reason)
	writeJSON(w, http.StatusAccepted, map[string]any{"node": n.ID, "requested": kind})
}

func (h *Handler) drain(w http.ResponseWriter, r *http.Request, c caller) {
	h.control(w, r, c, job.KindDrain)
}

func (h *Handler) hotRestart(w http.ResponseWriter, r *http.Request, c caller) {
	h.control(w, r, c, job.KindHotRestart)
}

type kickBody struct {
	User   string `json:"user"` // a user id, or a username
	Reason string `json:"reason"`
}

// kick handles POST api/kick: every live session of the user gets
// Kick(kicked) and closes, on whichever node it is.
func (h *Handler) kick(w http.ResponseWriter, r *http.Request, c caller) {
	var b kickBody
	if err := decode(r, &b, func() string { return b.Reason }); err != nil {
		h.fail(w, r, "decode", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	uid, err := h.userID(ctx, strings.TrimSpace(b.User))
	if err != nil {
		h.fail(w, r, "finding the user", err)
		return
	}
	n, err := route.KickUser(ctx, h.d.Registry, h.d.Streams, uid, route.CodeKicked, "kicked by an operator")
	if err != nil {
		h.fail(w, r, "kicking the user", err)
		return
	}
	h.d.Log.Info("ops: user kicked", "uid", uid, "sessions", n, "actor", c.actor(), "reason", b.Reason)
	writeJSON(w, http.StatusOK, map[string]any{"user_id": uid, "sessions": n})
}

// userID reads a user id, or looks a username up.
func (h *Handler) userID(ctx context.Context, s string) (int64, error) {
	if s == "" {
		return 0, tether.Errorf(tether.EINVALID, "user: a user id or username is required")
	}
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		if id <= 0 {
			return 0, tether.Errorf(tether.EINVALID, "user: ids are positive")
		}
		return id, nil
	}
	if h.d.Users == nil {
		return 0, tether.Errorf(tether.EINVALID, "user: give the user's id")
	}
	u, err := h.d.Users.UserByName(ctx, s)
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}
