package push

import (
	"context"
	"time"
)

// revokedCheckTimeout bounds the handshake's revocation lookup.
const revokedCheckTimeout = 500 * time.Millisecond

// sessionRevoked reports whether the API revoked the token's login session
// (logout, a removed device, a password change: route.Revoker). Redis is a
// weak dependency here as everywhere in the handshake: if it does not
// answer, the token is accepted (it stays valid until it expires, at most
// the access-token lifetime) and a warning is logged.
func (n *Node) sessionRevoked(sessionID string, uid int64) bool {
	if sessionID == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokedCheckTimeout)
	defer cancel()
	revoked, err := n.reg.IsRevoked(ctx, sessionID)
	if err != nil {
		n.log.Warn("push: revocation not checked; accepting the token", "uid", uid, "session_id", sessionID, "err", err)
		return false
	}
	return revoked
}
