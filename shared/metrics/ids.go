// The ids that let an operator find a unit of work (user, connection,
// request, stream entry) travel in its context, so a slow Redis command or
// SQL statement deep inside an HTTP request logs that request's ids.

package metrics

import (
	"context"
	"log/slog"
)

type idsKey struct{}

// WithIDs returns ctx carrying attrs in addition to the ids ctx already
// carries. Ids are names and numbers only: never message bodies or secrets.
func WithIDs(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	prev := IDs(ctx)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, idsKey{}, all)
}

// IDs returns the ids ctx carries (see WithIDs).
func IDs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	ids, _ := ctx.Value(idsKey{}).([]slog.Attr)
	return ids
}
