package rest

import (
	"context"
	"net/netip"

	"github.com/gin-gonic/gin"
)

// Throttle limits logins, registrations and message sends; api/throttle
// implements it. Each method answers a tether.ERATELIMITED error (429 with
// Retry-After) over a limit.
type Throttle interface {
	Login(ctx context.Context, username string, ip netip.Addr) error
	LoginSucceeded(ctx context.Context, username string)
	Register(ctx context.Context, ip netip.Addr) error
	Send(ctx context.Context, userID int64) error
}

// noThrottle is the Throttle of a server without limits.
type noThrottle struct{}

func (noThrottle) Login(context.Context, string, netip.Addr) error { return nil }
func (noThrottle) LoginSucceeded(context.Context, string)          {}
func (noThrottle) Register(context.Context, netip.Addr) error      { return nil }
func (noThrottle) Send(context.Context, int64) error               { return nil }

// clientAddr is the client's address: the connection's peer, or the one a
// trusted proxy (Deps.TrustedProxies) put in X-Forwarded-For or X-Real-IP.
// Invalid if it cannot be parsed (never for TCP).
func clientAddr(c *gin.Context) netip.Addr {
	a, _ := netip.ParseAddr(c.ClientIP())
	return a.Unmap()
}
