package route

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/job"
	"github.com/tetherim/tether/shared/stream"
)

// A revoked login session (logout, a removed device, a password change) is
// marked in Redis under {p}revoked:{session_id} for as long as its access
// tokens can live, so push nodes refuse those tokens at their next
// handshake; its live connections are kicked with a job.KindKick.

// kickCodeRevoked is wire.CodeRevoked (route does not import push/wire).
const kickCodeRevoked = 13

// Revoked is the key that marks a login session revoked.
func (k Keys) Revoked(sessionID string) string { return k.Prefix + "revoked:" + sessionID }

// IsRevoked reports whether a login session is marked revoked.
func (r *Registry) IsRevoked(ctx context.Context, sessionID string) (bool, error) {
	n, err := r.rdb.Exists(ctx, r.keys.Revoked(sessionID)).Result()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// Revoker marks login sessions revoked and kicks their live connections. It
// implements tether.SessionRevoker.
type Revoker struct {
	reg *Registry
	pub stream.Publisher
	ttl time.Duration
}

// NewRevoker returns a Revoker whose marks live accessTTL (the lifetime of
// an access token: after it no token of the session is valid anyway) and
// whose kick jobs go out through pub.
func NewRevoker(reg *Registry, pub stream.Publisher, accessTTL time.Duration) *Revoker {
	return &Revoker{reg: reg, pub: pub, ttl: accessTTL}
}

// Revoke marks the session revoked, then kicks the user's live sessions on
// deviceID and platform opened before now, on whichever nodes hold them.
func (v *Revoker) Revoke(ctx context.Context, userID int64, sessionID, deviceID, platform string) error {
	if sessionID == "" {
		return errors.New("route: revoke needs a session id")
	}
	ttl := v.ttl
	if ttl <= 0 {
		ttl = time.Hour
	}
	// A little longer than the token lifetime, for clock skew between hosts.
	if err := v.reg.rdb.Set(ctx, v.reg.keys.Revoked(sessionID), "1", ttl+time.Minute).Err(); err != nil {
		return err
	}
	live, err := v.reg.Lookup(ctx, []int64{userID})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	j := job.Job{
		ID:         "revoke-" + sessionID,
		Kind:       job.KindKick,
		Targets:    []job.Target{{UserID: userID, DeviceID: deviceID}},
		EnqueuedMS: time.Now().UnixMilli(),
		Code:       kickCodeRevoked,
		Reason:     "login session revoked",
	}
	if platform != "" {
		j.Platforms = []string{platform}
	}
	return v.pub.Publish(ctx, PlanByNode(j, live, nil))
}

// OnlineDevices returns the user's devices with a live session, as device id
// -> platform. It implements tether.OnlineDevices.
func (v *Revoker) OnlineDevices(ctx context.Context, userID int64) (map[string]string, error) {
	live, err := v.reg.Lookup(ctx, []int64{userID})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(live[userID]))
	for _, s := range live[userID] {
		out[s.DeviceID] = s.Platform
	}
	return out, nil
}
