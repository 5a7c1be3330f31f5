package ops

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tetherim/tether"
)

// Authentication. An operator logs in with an API key of the admin scope,
// the scope of /v1/admin/switches; the page keeps the session in this
// process's memory, so a session is good on the admin address that made
// it (the admin address is per process, not load balanced) and ends when
// the process restarts. The key itself is checked again on every request
// (through the key service's short cache), so revoking the key ends its
// sessions too.
//
// The cookie is HttpOnly and SameSite=Strict (Secure when the page is
// reached over TLS), and every action also carries the session's CSRF token
// in X-CSRF-Token, which the page reads from its own HTML: a form posted
// from another site has neither. Failed logins are limited per process.

const (
	cookieName  = "tether_ops"
	csrfHeader  = "X-CSRF-Token"
	keyHeader   = "X-API-Key"
	sessionLife = 12 * time.Hour // then log in again
	sessionIdle = time.Hour      // unused this long: log in again
	// maxFailures failed logins within failureWindow make the next
	// attempts wait: keys are long random secrets, but nobody may guess
	// them at the speed of the admin port.
	maxFailures   = 10
	failureWindow = time.Minute
)

// session is one operator's login.
type session struct {
	secret  string // the API key, checked again on every request
	keyID   string
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions are the logins of this process.
type sessions struct {
	mu       sync.Mutex
	byID     map[string]*session
	failures []time.Time // failed logins within failureWindow
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(secret, keyID string) (id string, sess *session) {
	now := time.Now()
	id = randomToken()
	sess = &session{secret: secret, keyID: keyID, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.byID { // sweep: logins are few
		if v.expired(now) {
			delete(s.byID, k)
		}
	}
	s.byID[id] = sess
	return id, sess
}

func (v *session) expired(now time.Time) bool {
	return now.Sub(v.created) > sessionLife || now.Sub(v.seen) > sessionIdle
}

// get returns the live session of id and marks it used.
func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[id]
	if !ok {
		return session{}, false
	}
	now := time.Now()
	if v.expired(now) {
		delete(s.byID, id)
		return session{}, false
	}
	v.seen = now
	return *v, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	delete(s.byID, id)
	s.mu.Unlock()
}

// throttled reports whether logins must wait, and for how long.
func (s *sessions) throttled(now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.failures[:0]
	for _, t := range s.failures {
		if now.Sub(t) < failureWindow {
			kept = append(kept, t)
		}
	}
	s.failures = kept
	if len(kept) < maxFailures {
		return 0, false
	}
	return failureWindow - now.Sub(kept[0]), true
}

func (s *sessions) failed(now time.Time) {
	s.mu.Lock()
	s.failures = append(s.failures, now)
	s.mu.Unlock()
}

// caller is who makes a request: the key's id, and the session if the
// request came with the cookie.
type caller struct {
	keyID     string
	sessionID string
	csrf      string
}

// actor names the caller in the switches' history and in logs.
func (c caller) actor() string { return "ops:key:" + c.keyID }

// checkKey returns the key of secret if it is live and holds the admin scope.
func (h *Handler) checkKey(ctx context.Context, secret string) (*tether.KeyCaller, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	k, err := h.d.Keys.KeyBySecret(ctx, secret)
	if err != nil {
		return nil, err
	}
	if !k.Has(tether.ScopeAdmin) {
		return nil, tether.Errorf(tether.EFORBIDDEN, "The API key lacks the admin scope.")
	}
	return k, nil
}

// identify authenticates r: the X-API-Key header, or the session cookie.
func (h *Handler) identify(r *http.Request) (caller, error) {
	if secret := r.Header.Get(keyHeader); secret != "" {
		k, err := h.checkKey(r.Context(), secret)
		if err != nil {
			return caller{}, err
		}
		return caller{keyID: k.KeyID}, nil
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return caller{}, tether.Errorf(tether.EUNAUTHORIZED, "Log in first (or send an admin API key in X-API-Key).")
	}
	sess, ok := h.auth.get(ck.Value)
	if !ok {
		return caller{}, tether.Errorf(tether.EUNAUTHORIZED, "The session has ended; log in again.")
	}
	if _, err := h.checkKey(r.Context(), sess.secret); err != nil {
		if c := tether.ErrorCode(err); c == tether.EUNAUTHORIZED || c == tether.EFORBIDDEN {
			h.auth.remove(ck.Value) // the key was revoked
		}
		return caller{}, err
	}
	return caller{keyID: sess.keyID, sessionID: ck.Value, csrf: sess.csrf}, nil
}

// authed wraps an endpoint: the caller must be an admin, and a state
// change by cookie must carry the session's CSRF token and come from this
// origin.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := h.identify(r)
		if err != nil {
			if tether.ErrorCode(err) == tether.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `APIKey realm="tether-ops", header="X-API-Key"`)
			}
			h.fail(w, r, "authentication", err)
			return
		}
		if c.sessionID != "" && r.Method != http.MethodGet {
			if !sameOrigin(r) {
				writeProblem(w, tether.EFORBIDDEN, "Cross-origin request refused.")
				return
			}
			got := r.Header.Get(csrfHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf)) != 1 {
				writeProblem(w, tether.EFORBIDDEN, "Missing or wrong "+csrfHeader+"; reload the page.")
				return
			}
		}
		next(w, r, c)
	}
}

// sameOrigin is false when the browser says the request comes from another
// origin than the page's (Origin, else Referer; neither: not a browser's
// cross-site request, which always sends Origin on a POST).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// login handles the login form: an admin API key in the field "key".
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeProblem(w, tether.EFORBIDDEN, "Cross-origin login refused.")
		return
	}
	now := time.Now()
	if wait, ok := h.auth.throttled(now); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		h.renderLogin(w, http.StatusTooManyRequests, "Too many failed logins; wait a minute.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	secret := r.PostFormValue("key")
	if secret == "" {
		h.renderLogin(w, http.StatusBadRequest, "Enter an API key of the admin scope.")
		return
	}
	k, err := h.checkKey(r.Context(), secret)
	if err != nil {
		switch tether.ErrorCode(err) {
		case tether.EUNAUTHORIZED, tether.EFORBIDDEN:
			h.auth.failed(now)
			h.d.Log.Warn("ops: login refused", "remote", r.RemoteAddr, "err", tether.ErrorMessage(err))
			h.renderLogin(w, http.StatusUnauthorized, "That is not a live API key of the admin scope.")
		default:
			h.d.Log.Warn("ops: login failed", "err", err)
			w.Header().Set("Retry-After", "5")
			h.renderLogin(w, http.StatusServiceUnavailable, "The key could not be checked (database down?); try again.")
		}
		return
	}
	id, _ := h.auth.create(secret, k.KeyID)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionLife / time.Second),
	})
	h.d.Log.Info("ops: operator logged in", "key", k.KeyID, "remote", r.RemoteAddr)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// logout ends the session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c caller) {
	if c.sessionID != "" {
		h.auth.remove(c.sessionID)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

var pages = template.Must(template.ParseFS(staticFiles, "static/*.html"))

// page serves the page itself to a logged-in operator, else the login form.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	c, err := h.identify(r)
	if err != nil || c.sessionID == "" {
		h.renderLogin(w, http.StatusOK, "")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.ExecuteTemplate(w, "index.html", map[string]string{"CSRF": c.csrf, "Process": h.d.Process, "Actor": c.actor()})
}

func (h *Handler) renderLogin(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, "login.html", map[string]string{"Error": msg, "Process": h.d.Process})
}
