package push

import "log/slog"

// ids are what an operator needs to find a connection's slow frame in the
// logs: the connection id and, once the handshake is done, the user id.
// The user id is resolved when a line is logged, so a Hello that overruns
// reports the user it authenticated.
func (c *conn) ids() []slog.Attr {
	return []slog.Attr{slog.String("conn", c.id), slog.Any("user_id", connUser{c})}
}

type connUser struct{ c *conn }

// LogValue runs on the goroutine that handled the frame, the one that sets uid.
// Before the handshake it is an empty group, which handlers leave out.
func (u connUser) LogValue() slog.Value {
	if u.c.uid == 0 {
		return slog.GroupValue()
	}
	return slog.Int64Value(u.c.uid)
}
