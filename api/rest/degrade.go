// Degradation (issue 11 part 4): an operator turns a non-core business down
// with its live switch (shared/switches' catalogue), and its routes answer
// clients in one documented way: 503 degraded with a Retry-After, or, for
// history, a shorter page. Chat send and sync never consult a degradation
// switch (TestDegradation_SendAndSyncNeverConsultASwitch).

package rest

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/switches"
)

// degradedRetryAfter is how long a client of a degraded business is told to
// wait: switches change by hand, so retrying sooner only adds load.
const degradedRetryAfter = 30 * time.Second

// registry is the server's live switches.
func (s *Server) registry() *switches.Registry {
	if s.switches != nil && s.switches.Registry != nil {
		return s.switches.Registry
	}
	return defaultSwitches
}

// degradedFor answers 503 degraded and reports true when the switch name is
// off for the caller of a user route.
func (s *Server) degradedFor(c *gin.Context, name string, caller tether.Caller, what string) bool {
	if s.switchOn(name, caller) {
		return false
	}
	fail(c, degradedError(what))
	return true
}

// degradedForService is degradedFor for routes of an API key (the push
// API): the subject is the calling key, so rules can turn one runaway
// caller down (deny_api_keys), release to chosen callers (allow_api_keys)
// or to a stable percentage of keys.
func (s *Server) degradedForService(c *gin.Context, name string, k tether.KeyCaller, what string) bool {
	if s.registry().Enabled(name, switches.Subject{APIKey: k.KeyID}) {
		return false
	}
	fail(c, degradedError(what))
	return true
}

func degradedError(what string) error {
	return &tether.Error{Code: tether.EDEGRADED,
		Message: what + " is turned down for now; retry after Retry-After.", RetryAfter: degradedRetryAfter}
}

// historyLimit caps a history page at the history_page_max switch (0: no cap).
func (s *Server) historyLimit(q tether.HistoryQuery) tether.HistoryQuery {
	if max := s.registry().Int(switches.HistoryPageLimit); max > 0 && int64(q.Limit) > max {
		q.Limit = int(max)
	}
	return q
}
