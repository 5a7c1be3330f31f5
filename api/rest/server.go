// Package rest serves Tether's REST API over HTTP with gin.
//
// Handlers are thin: decode, call an api service, encode. Everything around
// them is middleware shared by all routes: metrics and one log line per
// request, panic recovery, a body size cap, Bearer authentication, and
// validation of every request against openapi.yaml, the contract the server
// must not drift from. Errors are RFC 9457 problem documents whose status
// comes from the error code in exactly one place (shared/problem's table).
package rest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/gin-gonic/gin"
	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/bulkhead"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/problem"
	"github.com/tetherim/tether/shared/switches"
	"github.com/tetherim/tether/shared/token"
)

// Deps are what the server needs. Auth, Messages, Verifier and Metrics are
// required; Log defaults to discarding and Ready to always ready.
type Deps struct {
	Auth     tether.AuthService
	Messages tether.MessageService
	Verifier *token.Verifier       // verifies Bearer access tokens locally
	Sessions tether.SessionService // logout and device management
	Profiles tether.ProfileService // profiles
	Social   tether.SocialService  // contacts and blocks
	// Groups serves groups, their members and invitations (groups.go);
	// without it those routes answer 503.
	Groups tether.GroupService
	// Presence serves GET /v1/presence (presence.go); without it that
	// route answers 503.
	Presence tether.PresenceService
	// Discovery serves GET /v1/push-nodes (discovery.go); without it that
	// route answers 503.
	Discovery tether.DiscoveryService
	// Conversations serves the conversation list, read receipts, mute and
	// delete (conversations.go); without it those routes answer 503.
	Conversations tether.ConversationService
	// The push API for third-party services (apikeys.go, pushes.go): both or neither;
	// without them its routes answer 503.
	APIKeys tether.APIKeyService
	Push    tether.PushService
	Metrics *metrics.Metrics
	// Revocations, when set, refuses access tokens of revoked login
	// sessions (logout, removed device, password change) before they
	// expire. route.Registry implements it.
	Revocations RevocationChecker
	// Throttle, when set, limits logins, registrations and sends (throttle.go).
	Throttle Throttle
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (for the per-address limits); none: the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// Switches serves /v1/admin/switches (switches.go); without it those
	// routes answer 503.
	Switches *switches.Service
	Log      *slog.Logger
	Ready    func(ctx context.Context) error // checks dependencies for /readyz (may be nil)
	// RequestTimeout bounds each request's wait on the database and Redis
	// (0: DefaultRequestTimeout): one that stops answering without closing
	// its connections then costs a 503 unavailable, not a request held
	// until the client gives up.
	RequestTimeout time.Duration
	// Bulkheads, when set, runs each route in its business's pool (bulkhead.go).
	Bulkheads *bulkhead.Set
}

// DefaultRequestTimeout is Deps.RequestTimeout's default: longer than any
// request takes on a healthy database (a send to a full group at a high
// load is seconds), shorter than the HTTP server's write timeout, so the
// 503 still reaches the client.
const DefaultRequestTimeout = 30 * time.Second

// Server is the REST API. It holds no per-request state; one Server serves
// any number of concurrent requests.
type Server struct {
	auth     tether.AuthService
	messages tether.MessageService
	verifier *token.Verifier
	sessions tether.SessionService
	profiles tether.ProfileService
	social   tether.SocialService

	// Optional services: nil answers their routes with 503.
	groups        tether.GroupService        // groups.go
	conversations tether.ConversationService // conversations.go
	presence      tether.PresenceService     // presence.go
	discovery     tether.DiscoveryService    // discovery.go
	apiKeys       tether.APIKeyService       // push API (apikeys.go)
	push          tether.PushService         // push API (pushes.go)
	switches      *switches.Service          // live switches (switches.go)

	metrics    *metrics.Metrics
	revoked    *revocationCache
	throttle   Throttle
	proxies    []netip.Prefix
	log        *slog.Logger
	ready      func(ctx context.Context) error
	bulkheads  *bulkhead.Set
	doc        *openapi3.T
	validation *openapi3filter.Options
	timeout    time.Duration // Deps.RequestTimeout
	engine     *gin.Engine
}

// New builds the server and its routes. It fails if a dependency is missing
// or if a route has no operation in the embedded openapi.yaml.
func New(d Deps) (*Server, error) {
	return newServer(d, tether.OpenAPI)
}

func newServer(d Deps, spec []byte) (*Server, error) {
	switch {
	case d.Auth == nil:
		return nil, errors.New("rest: Deps.Auth is required")
	case d.Messages == nil:
		return nil, errors.New("rest: Deps.Messages is required")
	case d.Sessions == nil:
		return nil, errors.New("rest: Deps.Sessions is required")
	case d.Profiles == nil:
		return nil, errors.New("rest: Deps.Profiles is required")
	case d.Social == nil:
		return nil, errors.New("rest: Deps.Social is required")
	case d.Verifier == nil:
		return nil, errors.New("rest: Deps.Verifier is required")
	case d.Metrics == nil:
		return nil, errors.New("rest: Deps.Metrics is required")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	doc, err := loadSpec(context.Background(), spec)
	if err != nil {
		return nil, err
	}
	s := &Server{
		auth:     d.Auth,
		messages: d.Messages,
		verifier: d.Verifier,
		sessions: d.Sessions,
		profiles: d.Profiles,
		social:   d.Social,

		groups:        d.Groups,
		conversations: d.Conversations,
		presence:      d.Presence,
		discovery:     d.Discovery,
		apiKeys:       d.APIKeys,
		push:          d.Push,
		switches:      d.Switches,

		metrics:    d.Metrics,
		revoked:    newRevocationCache(d.Revocations, d.Metrics, log),
		throttle:   d.Throttle,
		proxies:    d.TrustedProxies,
		log:        log,
		ready:      d.Ready,
		bulkheads:  d.Bulkheads,
		doc:        doc,
		validation: validationOptions(),
		timeout:    d.RequestTimeout,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.throttle == nil {
		s.throttle = noThrottle{}
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.engine }

// routes builds the gin engine. Every route is a spec operation; requests
// pass observe and recoverPanic, their business's bulkhead, limitBody and
// deadline, then (on protected routes) authenticate, then validate against
// their operation.
func (s *Server) routes() error {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// Redirects are not part of the contract: a path either is a route or is 404.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// gin trusts every proxy's X-Forwarded-For unless told otherwise: a
	// client could then pick the address its limits are counted under.
	proxies := make([]string, len(s.proxies))
	for i, p := range s.proxies {
		proxies[i] = p.String()
	}
	if err := e.SetTrustedProxies(proxies); err != nil {
		return err
	}
	// Only what every answer needs runs before the route's bulkhead; the
	// body and the deadline come after it (routeChain), so a shed request
	// costs its parse, a pool check and a prepared answer.
	e.Use(s.observe, s.recoverPanic)
	e.NoRoute(func(c *gin.Context) { writeProblem(c, tether.ENOTFOUND, "No such route.") })
	e.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem.CodeMethodNotAllowed, "The route does not support the "+c.Request.Method+" method.")
	})

	var errs []error
	handle := func(method, path string, authenticated bool, h gin.HandlerFunc) {
		route, err := specRoute(s.doc, method, path)
		if err != nil {
			errs = append(errs, err)
			return
		}
		chain := s.routeChain(method, path)
		if authenticated {
			chain = append(chain, s.authenticate)
		}
		chain = append(chain, s.validate(route), h)
		e.Handle(method, path, chain...)
	}
	const public, protected = false, true
	handle(http.MethodGet, "/healthz", public, s.healthz)
	handle(http.MethodGet, "/readyz", public, s.readyz)
	handle(http.MethodGet, "/openapi.yaml", public, s.openapi)
	handle(http.MethodGet, "/docs", public, s.docs)
	handle(http.MethodGet, "/docs/", public, s.docsSlash)
	handle(http.MethodGet, "/docs/rapidoc-min.js", public, s.docsBundle)
	handle(http.MethodPost, "/v1/accounts", public, s.register)
	handle(http.MethodPost, "/v1/sessions", public, s.login)
	handle(http.MethodPost, "/v1/sessions/refresh", public, s.refresh)
	handle(http.MethodPost, "/v1/sessions/logout", protected, s.logout)
	handle(http.MethodGet, "/v1/devices", protected, s.devices)
	handle(http.MethodGet, "/v1/presence", protected, s.getPresence)
	handle(http.MethodGet, "/v1/push-nodes", protected, s.getPushNodes)
	handle(http.MethodDelete, "/v1/devices/:session_id", protected, s.revokeDevice)
	handle(http.MethodPost, "/v1/account/password", protected, s.changePassword)
	handle(http.MethodGet, "/v1/users/me", protected, s.me)
	handle(http.MethodGet, "/v1/users/by-name/:username", protected, s.userByName)
	// gin gives static segments (me, by-name) precedence over the :id
	// parameter at the same level, so the three routes coexist.
	handle(http.MethodGet, "/v1/users/:id", protected, s.user)
	// Profiles: gin routes /v1/users/me/profile and /v1/users/:id/profile
	// beside the three routes above (TestProfileRoutes_CoexistWithUserRoutes).
	handle(http.MethodGet, "/v1/users/me/profile", protected, s.myProfile)
	handle(http.MethodPatch, "/v1/users/me/profile", protected, s.updateMyProfile)
	handle(http.MethodGet, "/v1/users/:id/profile", protected, s.userProfile)
	handle(http.MethodGet, "/v1/contacts", protected, s.socialList(func(x tether.SocialService) listFunc { return x.Contacts }))
	handle(http.MethodPut, "/v1/contacts/:user_id", protected, s.socialEdit(func(x tether.SocialService) editFunc { return x.AddContact }))
	handle(http.MethodDelete, "/v1/contacts/:user_id", protected, s.socialEdit(func(x tether.SocialService) editFunc { return x.RemoveContact }))
	handle(http.MethodGet, "/v1/blocks", protected, s.socialList(func(x tether.SocialService) listFunc { return x.Blocks }))
	handle(http.MethodPut, "/v1/blocks/:user_id", protected, s.socialEdit(func(x tether.SocialService) editFunc { return x.Block }))
	handle(http.MethodDelete, "/v1/blocks/:user_id", protected, s.socialEdit(func(x tether.SocialService) editFunc { return x.Unblock }))
	// Groups (groups.go).
	handle(http.MethodPost, "/v1/groups", protected, s.createGroup)
	handle(http.MethodGet, "/v1/groups", protected, s.listGroups)
	handle(http.MethodGet, "/v1/groups/:group_id", protected, s.getGroup)
	handle(http.MethodPatch, "/v1/groups/:group_id", protected, s.updateGroup)
	handle(http.MethodDelete, "/v1/groups/:group_id", protected, s.dissolveGroup)
	handle(http.MethodGet, "/v1/groups/:group_id/members", protected, s.listGroupMembers)
	handle(http.MethodPost, "/v1/groups/:group_id/members", protected, s.addGroupMembers)
	handle(http.MethodDelete, "/v1/groups/:group_id/members/:user_id", protected, s.removeGroupMember)
	handle(http.MethodPut, "/v1/groups/:group_id/members/:user_id/role", protected, s.setGroupRole)
	handle(http.MethodPut, "/v1/groups/:group_id/members/:user_id/mute", protected, s.muteGroupMember)
	handle(http.MethodPost, "/v1/groups/:group_id/leave", protected, s.leaveGroup)
	handle(http.MethodPost, "/v1/groups/:group_id/transfer", protected, s.transferGroup)
	handle(http.MethodPut, "/v1/groups/:group_id/mute", protected, s.muteGroup)
	handle(http.MethodPost, "/v1/groups/:group_id/invitations", protected, s.inviteToGroup)
	handle(http.MethodGet, "/v1/invitations", protected, s.listInvitations)
	handle(http.MethodPost, "/v1/invitations/:invitation_id/accept", protected, s.acceptInvitation)
	handle(http.MethodDelete, "/v1/invitations/:invitation_id", protected, s.deleteInvitation)
	handle(http.MethodPost, "/v1/messages", protected, s.send)
	handle(http.MethodGet, "/v1/sync", protected, s.sync)
	handle(http.MethodGet, "/v1/conversations/:conversation_id/messages", protected, s.history)
	// Conversations (conversations.go): gin routes the item routes beside
	// .../messages above (same parameter name at the same level).
	handle(http.MethodGet, "/v1/conversations", protected, s.listConversations)
	handle(http.MethodGet, "/v1/conversations/:conversation_id", protected, s.getConversation)
	handle(http.MethodDelete, "/v1/conversations/:conversation_id", protected, s.deleteConversation)
	handle(http.MethodPost, "/v1/conversations/:conversation_id/read", protected, s.markConversationRead)
	handle(http.MethodPut, "/v1/conversations/:conversation_id/mute", protected, s.muteConversation)
	handle(http.MethodPost, "/v1/messages/:message_id/recall", protected, s.recall)
	// Push API for third-party services: an API key with a scope, never a
	// Bearer token (apikeys.go). gin routes POST /v1/push/batch and
	// /v1/push/broadcast beside GET /v1/push/:push_id (different methods).
	handleKey := func(method, path string, h gin.HandlerFunc, scopes ...string) {
		route, err := specRoute(s.doc, method, path)
		if err != nil {
			errs = append(errs, err)
			return
		}
		chain := s.routeChain(method, path)
		check := s.validate(route)
		if fastRoutes[method+" "+path] { // the hot routes: a compiled checker (fastcheck.go)
			b, err := compileBodyCheck(route.Operation, method+" "+path)
			if err != nil {
				errs = append(errs, err)
				return
			}
			check = s.fastValidate(b)
		}
		e.Handle(method, path, append(chain, s.authenticateKey(scopes...), check, h)...)
	}
	handleKey(http.MethodPost, "/v1/admin/api-keys", s.createAPIKey, tether.ScopeAdmin)
	handleKey(http.MethodGet, "/v1/admin/api-keys", s.listAPIKeys, tether.ScopeAdmin)
	handleKey(http.MethodDelete, "/v1/admin/api-keys/:key_id", s.revokeAPIKey, tether.ScopeAdmin)
	handleKey(http.MethodGet, "/v1/admin/switches", s.listSwitches, tether.ScopeAdmin)
	handleKey(http.MethodGet, "/v1/admin/switches/:name", s.getSwitch, tether.ScopeAdmin)
	handleKey(http.MethodPut, "/v1/admin/switches/:name", s.setSwitch, tether.ScopeAdmin)
	handleKey(http.MethodGet, "/v1/admin/switches/:name/history", s.switchHistory, tether.ScopeAdmin)
	handleKey(http.MethodPost, "/v1/push", s.sendPush, tether.ScopePush)
	handleKey(http.MethodPost, "/v1/push/batch", s.sendPushBatch, tether.ScopePush)
	handleKey(http.MethodPost, "/v1/push/broadcast", s.sendBroadcast, tether.ScopeBroadcast)
	handleKey(http.MethodGet, "/v1/push/:push_id", s.pushStatus, tether.ScopePush, tether.ScopeBroadcast)
	// A service with only a key finds the user id a push needs (accounts.go).
	handleKey(http.MethodGet, "/v1/push/users/by-name/:username", s.userByName, tether.ScopePush)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.engine = e
	return nil
}
