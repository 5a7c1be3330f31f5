package switches

import "context"

// Rules are evaluated per request or per session. A decision taken below
// the layer that knows the caller (the store deciding whether a read
// receipt goes out) finds the caller's Subject on the request's context,
// put there by the layer that authenticated it.

type subjectKey struct{}

// WithSubject returns ctx carrying s, the subject of the request.
func WithSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectFrom returns the request's subject for the user userID: the one
// WithSubject put on ctx when it is that user's, otherwise a subject that
// knows only the user (a caller outside any request, e.g. a test).
func SubjectFrom(ctx context.Context, userID int64) Subject {
	if s, ok := ctx.Value(subjectKey{}).(Subject); ok && s.UserID == userID {
		return s
	}
	return Subject{UserID: userID}
}
