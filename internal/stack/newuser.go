package stack

import (
	"context"
	"log/slog"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/shared/route"
)

// versionInitTimeout bounds the Redis write a registration adds; it is a
// weak dependency of registering.
const versionInitTimeout = 200 * time.Millisecond

// initVersionOnRegister records version 0 in the routing registry for each
// new account, so that the account's first push handshake gets a Welcome
// with version 0 instead of version_unknown, which means "Redis could not
// tell" and costs the client a sync. If Redis does not answer, the account
// is still created; its first Welcome then says version_unknown, and the
// client syncs an empty timeline.
type initVersionOnRegister struct {
	tether.AuthService
	reg *route.Registry
	log *slog.Logger
}

// Register creates the account, then records its version 0.
func (a initVersionOnRegister) Register(ctx context.Context, username, password string) (*tether.User, error) {
	u, err := a.AuthService.Register(ctx, username, password)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), versionInitTimeout)
	defer cancel()
	if err := a.reg.InitVersion(ctx, u.ID); err != nil {
		a.log.Warn("register: version 0 not recorded in Redis; the first handshake will say version_unknown", "uid", u.ID, "err", err)
	}
	return u, nil
}
